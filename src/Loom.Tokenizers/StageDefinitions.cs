using System.Text;

namespace Loom.Tokenizers;

// The stages of a tokenizer.json as data, one nested record per "type" Loom runs. Each hierarchy is closed (private
// constructor): the builders in Normalizers.cs, PreTokenizers.cs, Decoders.cs and PostProcessors.cs handle every case.

/// <summary>tokenizer.json "normalizer": rewrites input text before pre-tokenization.</summary>
public abstract record NormalizerDefinition
{
    private NormalizerDefinition() { }

    public sealed record Sequence(IReadOnlyList<NormalizerDefinition> Normalizers) : NormalizerDefinition;
    /// <summary>NFC, NFD, NFKC or NFKD.</summary>
    public sealed record UnicodeForm(NormalizationForm Form) : NormalizerDefinition;
    public sealed record Lowercase : NormalizerDefinition;
    public sealed record Prepend(string Prefix) : NormalizerDefinition;
    public sealed record Replace(PatternDefinition Pattern, string Content) : NormalizerDefinition;
    public sealed record Strip(bool Left, bool Right) : NormalizerDefinition;
    public sealed record StripAccents : NormalizerDefinition;
}

/// <summary>tokenizer.json "pre_tokenizer": splits normalized text into the words the model sees.</summary>
public abstract record PreTokenizerDefinition
{
    private PreTokenizerDefinition() { }

    public sealed record Sequence(IReadOnlyList<PreTokenizerDefinition> Stages) : PreTokenizerDefinition;
    public sealed record Split(PatternDefinition Pattern, SplitBehavior Behavior, bool Invert) : PreTokenizerDefinition;
    /// <summary>GPT-2 byte-level: optional leading space, optional GPT-2 regex split, bytes as alphabet characters.</summary>
    public sealed record ByteLevel(bool AddPrefixSpace, bool UseRegex) : PreTokenizerDefinition;
    public sealed record Metaspace(char Replacement, PrependScheme Scheme, bool SplitAtReplacement) : PreTokenizerDefinition;
    public sealed record Digits(bool IndividualDigits) : PreTokenizerDefinition;
    /// <summary>Words and runs of punctuation (\w+|[^\w\s]+); whitespace dropped.</summary>
    public sealed record Whitespace : PreTokenizerDefinition;
    public sealed record WhitespaceSplit : PreTokenizerDefinition;
}

/// <summary>tokenizer.json "decoder": rewrites the token strings on the way back to text.</summary>
public abstract record DecoderDefinition
{
    private DecoderDefinition() { }

    public sealed record Sequence(IReadOnlyList<DecoderDefinition> Decoders) : DecoderDefinition;
    public sealed record ByteLevel : DecoderDefinition;
    public sealed record Metaspace(char Replacement, PrependScheme Scheme) : DecoderDefinition;
    public sealed record Replace(PatternDefinition Pattern, string Content) : DecoderDefinition;
    /// <summary>Runs of &lt;0xXX&gt; tokens become their UTF-8 text.</summary>
    public sealed record ByteFallback : DecoderDefinition;
    public sealed record Fuse : DecoderDefinition;
    /// <summary>Removes up to Start leading and Stop trailing copies of Content from every token.</summary>
    public sealed record Strip(char Content, int Start, int Stop) : DecoderDefinition;
}

/// <summary>tokenizer.json "post_processor" for single sequences: special tokens around the ids.</summary>
public abstract record PostProcessorDefinition
{
    private PostProcessorDefinition() { }

    public sealed record Sequence(IReadOnlyList<PostProcessorDefinition> Processors) : PostProcessorDefinition;
    /// <summary>Only trims offsets, which Loom does not produce: the ids pass unchanged.</summary>
    public sealed record ByteLevel : PostProcessorDefinition;
    /// <summary>TemplateProcessing's "single" template (and Bert/Roberta's [CLS] ... [SEP]).</summary>
    public sealed record Template(IReadOnlyList<int> Before, IReadOnlyList<int> After) : PostProcessorDefinition;
}
