using System.Text;

namespace Loom.Tokenizers;

public static partial class TokenizerJsonReader
{
    private static NormalizerDefinition? Normalizer(TokenizerJson json)
    {
        if (json.IsNull) return null;
        return json.Type switch
        {
            "Sequence" => new NormalizerDefinition.Sequence([.. json.Required("normalizers").Items().Select(n => Normalizer(n)!)]),
            "NFC" => new NormalizerDefinition.UnicodeForm(NormalizationForm.FormC),
            "NFD" => new NormalizerDefinition.UnicodeForm(NormalizationForm.FormD),
            "NFKC" => new NormalizerDefinition.UnicodeForm(NormalizationForm.FormKC),
            "NFKD" => new NormalizerDefinition.UnicodeForm(NormalizationForm.FormKD),
            "Lowercase" => new NormalizerDefinition.Lowercase(),
            "Prepend" => new NormalizerDefinition.Prepend(json.Required("prepend").String()),
            "Replace" => new NormalizerDefinition.Replace(Pattern(json.Required("pattern")), json.Required("content").String()),
            "Strip" => new NormalizerDefinition.Strip(json.Child("strip_left").Bool(true), json.Child("strip_right").Bool(true)),
            "StripAccents" => new NormalizerDefinition.StripAccents(),
            var other => throw json.Error($"normalizer type \"{other}\" is not supported"),
        };
    }

    private static PreTokenizerDefinition? PreTokenizer(TokenizerJson json)
    {
        if (json.IsNull) return null;
        return json.Type switch
        {
            "Sequence" => new PreTokenizerDefinition.Sequence([.. json.Required("pretokenizers").Items().Select(p => PreTokenizer(p)!)]),
            "Split" => new PreTokenizerDefinition.Split(Pattern(json.Required("pattern")), Behavior(json.Required("behavior")),
                json.Child("invert").Bool(false)),
            "ByteLevel" => new PreTokenizerDefinition.ByteLevel(json.Child("add_prefix_space").Bool(true), json.Child("use_regex").Bool(true)),
            "Metaspace" => new PreTokenizerDefinition.Metaspace(Replacement(json), Scheme(json), json.Child("split").Bool(true)),
            "Digits" => new PreTokenizerDefinition.Digits(json.Child("individual_digits").Bool(false)),
            "Whitespace" => new PreTokenizerDefinition.Whitespace(),
            "WhitespaceSplit" => new PreTokenizerDefinition.WhitespaceSplit(),
            var other => throw json.Error($"pre_tokenizer type \"{other}\" is not supported"),
        };
    }

    private static DecoderDefinition? Decoder(TokenizerJson json)
    {
        if (json.IsNull) return null;
        return json.Type switch
        {
            "Sequence" => new DecoderDefinition.Sequence([.. json.Required("decoders").Items().Select(d => Decoder(d)!)]),
            "ByteLevel" => new DecoderDefinition.ByteLevel(),
            "Metaspace" => new DecoderDefinition.Metaspace(Replacement(json), Scheme(json)),
            "Replace" => new DecoderDefinition.Replace(Pattern(json.Required("pattern")), json.Required("content").String()),
            "ByteFallback" => new DecoderDefinition.ByteFallback(),
            "Fuse" => new DecoderDefinition.Fuse(),
            "Strip" => new DecoderDefinition.Strip(json.Required("content").String()[0], json.Child("start").Int(0), json.Child("stop").Int(0)),
            var other => throw json.Error($"decoder type \"{other}\" is not supported"),
        };
    }

    private static PostProcessorDefinition? PostProcessor(TokenizerJson json)
    {
        if (json.IsNull) return null;
        return json.Type switch
        {
            "Sequence" => new PostProcessorDefinition.Sequence([.. json.Required("processors").Items().Select(p => PostProcessor(p)!)]),
            "ByteLevel" => new PostProcessorDefinition.ByteLevel(),
            "TemplateProcessing" => Template(json),
            "BertProcessing" or "RobertaProcessing" => new PostProcessorDefinition.Template(
                [TokenIdAt(json.Required("cls"))], [TokenIdAt(json.Required("sep"))]),
            var other => throw json.Error($"post_processor type \"{other}\" is not supported"),
        };
    }

    /// <summary>Bert/Roberta write special tokens as ["[CLS]", 101].</summary>
    private static int TokenIdAt(TokenizerJson pair) => pair.Items().ElementAt(1).Int(0);

    /// <summary>TemplateProcessing's "single" template: the special tokens' ids before and after sequence A.</summary>
    private static PostProcessorDefinition.Template Template(TokenizerJson json)
    {
        var specials = new Dictionary<string, int[]>();
        var specialTokens = json.Child("special_tokens");
        if (!specialTokens.IsNull)
            foreach (var (name, value) in specialTokens.Properties())
                specials[name] = value.Required("ids").Items().Select(i => i.Int(0)).ToArray();

        var before = new List<int>();
        var after = new List<int>();
        bool seenSequence = false;
        foreach (var item in json.Required("single").Items())
        {
            var special = item.Child("SpecialToken");
            if (!special.IsNull)
            {
                var idField = special.Required("id");
                if (!specials.TryGetValue(idField.String(), out var ids))
                    throw idField.Error($"special token \"{idField.String()}\" is not listed in special_tokens");
                (seenSequence ? after : before).AddRange(ids);
            }
            else if (!item.Child("Sequence").IsNull) seenSequence = true;
            else throw item.Error("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
        return new PostProcessorDefinition.Template(before.ToArray(), after.ToArray());
    }

    /// <summary>{"String": literal} or {"Regex": pattern}.</summary>
    private static PatternDefinition Pattern(TokenizerJson json)
    {
        string origin = $"{json.Source}: {json.Path}";
        var literal = json.Child("String");
        if (!literal.IsNull) return new PatternDefinition(literal.String(), IsRegex: false, origin);
        var regex = json.Child("Regex");
        if (regex.IsNull) throw json.Error("pattern must be {\"String\": ...} or {\"Regex\": ...}");
        return new PatternDefinition(regex.String(), IsRegex: true, origin);
    }

    private static SplitBehavior Behavior(TokenizerJson json) => json.String() switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        var other => throw json.Error($"unknown split behavior \"{other}\""),
    };

    private static char Replacement(TokenizerJson json)
    {
        var r = json.Required("replacement");
        var s = r.String();
        if (s.Length != 1) throw r.Error("replacement must be a single character");
        return s[0];
    }

    /// <summary>prepend_scheme, or in older files add_prefix_space (true means "always").</summary>
    private static PrependScheme Scheme(TokenizerJson json)
    {
        var scheme = json.Child("prepend_scheme");
        if (scheme.IsNull) return json.Child("add_prefix_space").Bool(true) ? PrependScheme.Always : PrependScheme.Never;
        return scheme.String() switch
        {
            "first" => PrependScheme.First,
            "always" => PrependScheme.Always,
            "never" => PrependScheme.Never,
            var other => throw scheme.Error($"unknown prepend_scheme \"{other}\""),
        };
    }
}
