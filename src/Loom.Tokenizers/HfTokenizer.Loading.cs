using Loom.IO;

namespace Loom.Tokenizers;

public sealed partial class HfTokenizer
{
    private HfTokenizer(BpeModel model, AddedVocabulary added, Normalizer? normalizer, PreTokenizer? preTokenizer,
        PostProcessor? postProcessor, Decoder? decoder, TokenizerConfig config)
    {
        _model = model;
        _added = added;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _postProcessor = postProcessor;
        _decoder = decoder;
        Config = config;
        _vocabSize = Math.Max(model.VocabSize, added.Tokens.Count == 0 ? 0 : added.Tokens.Max(t => t.Id) + 1);

        // SentencePiece checkpoints without a splitting pre-tokenizer hand the model one word per text; cutting it at
        // runs of ▁ is exact for their vocabularies (see MarkerOnlyLeads) and lets the word cache work.
        if (preTokenizer is null or MetaspacePreTokenizer && model.MarkerOnlyLeads(SentencePieceSpace)) _cutBeforeSpaceRuns = true;

        var lastStage = preTokenizer is SequencePreTokenizer seq && seq.Stages.Count > 0 ? seq.Stages[^1] : preTokenizer;
        if (lastStage is ByteLevelPreTokenizer byteLevel)
        {
            byteLevel.MapBytes = false;
            _mapBytesBeforeModel = true;
        }
    }

    /// <summary>Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.</summary>
    public static HfTokenizer FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new TokenizerFormatException($"{directory}: tokenizer directory does not exist");
        string config = Path.Combine(directory, "tokenizer_config.json");
        return FromFiles(Path.Combine(directory, "tokenizer.json"), Path.Exists(config) ? config : null);
    }

    public static HfTokenizer FromFiles(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        // Missing, a directory, a FIFO (reading would block for good): each refused with the path named.
        if (RegularFile.Problem(tokenizerJsonPath) is { } problem) throw new TokenizerFormatException(problem);
        if (tokenizerConfigPath != null && RegularFile.Problem(tokenizerConfigPath) is { } configProblem)
            throw new TokenizerFormatException(configProblem);
        return Build(File.ReadAllText(tokenizerJsonPath), tokenizerJsonPath,
            tokenizerConfigPath is null ? null : File.ReadAllText(tokenizerConfigPath), tokenizerConfigPath ?? "");
    }

    /// <summary>Builds a tokenizer from JSON text held in memory.</summary>
    public static HfTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null) =>
        Build(tokenizerJson, "tokenizer.json (in memory)", tokenizerConfigJson, "tokenizer_config.json (in memory)");

    private static HfTokenizer Build(string tokenizerJson, string source, string? configJson, string configSource)
    {
        var config = configJson is null ? TokenizerConfig.Empty : TokenizerConfig.Parse(configJson, configSource);
        return FromDefinition(TokenizerJsonReader.Read(tokenizerJson, source, config));
    }

    /// <summary>
    /// Builds the tokenizer a definition describes, from tokenizer.json or any other source (a GGUF file). What JSON
    /// shape cannot show is checked here: ids dense enough to index tables, merges and unk_token inside the
    /// vocabulary, regexes that compile, configured BOS/EOS tokens that exist.
    /// </summary>
    /// <exception cref="TokenizerFormatException">The definition cannot be run; the message names its source.</exception>
    public static HfTokenizer FromDefinition(TokenizerDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        CheckIdsAreDense(definition);
        var normalizer = Normalizer.From(definition.Normalizer);
        var added = new AddedVocabulary(definition.AddedTokens, normalizer);
        var model = new BpeModel(definition.Model);
        var postProcessor = ApplyConfigSpecialTokens(PostProcessor.From(definition.PostProcessor), definition.Config, added, model,
            definition.Source);
        return new HfTokenizer(model, added, normalizer, PreTokenizer.From(definition.PreTokenizer), postProcessor,
            Decoder.From(definition.Decoder), definition.Config);
    }

    /// <summary>
    /// transformers rebuilds the post-processor from add_bos_token/add_eos_token when the config asks for either
    /// (LlamaTokenizerFast.update_post_processor); otherwise tokenizer.json's post-processor stands.
    /// </summary>
    private static PostProcessor? ApplyConfigSpecialTokens(PostProcessor? fromJson, TokenizerConfig config,
        AddedVocabulary added, BpeModel model, string source)
    {
        if (config.AddBosToken != true && config.AddEosToken != true) return fromJson;
        int Id(string? token, string field) =>
            token is null ? throw new TokenizerFormatException($"{source}: {field} is requested but no token is configured")
            : added.ByContent(token)?.Id ?? model.TokenToId(token)
              ?? throw new TokenizerFormatException($"{source}: {field} token \"{token}\" is not in the vocabulary");
        int[] before = config.AddBosToken == true ? [Id(config.BosToken, "add_bos_token")] : [];
        int[] after = config.AddEosToken == true ? [Id(config.EosToken, "add_eos_token")] : [];
        return new TemplatePostProcessor(before, after);
    }

    /// <summary>
    /// Ids index per-id tables (id to token here, embedding rows in the model), so each must lie below the number of
    /// entries that can claim one (<see cref="TokenizerJsonReader"/> checks the same, naming the JSON path).
    /// </summary>
    private static void CheckIdsAreDense(TokenizerDefinition definition)
    {
        long bound = (long)definition.Model.Vocab.Count + definition.AddedTokens.Count;
        foreach (var (token, id) in definition.Model.Vocab) CheckId(id, token);
        foreach (var added in definition.AddedTokens) CheckId(added.Id, added.Content);

        void CheckId(int id, string token)
        {
            if (id < 0 || id >= bound)
                throw new TokenizerFormatException($"{definition.Source}: token \"{token}\" has id {id}, outside [0, {bound}), the number of vocab and added tokens");
        }
    }
}
