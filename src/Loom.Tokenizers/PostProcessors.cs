namespace Loom.Tokenizers;

/// <summary>A tokenizer.json "post_processor" for single sequences; it runs only when special tokens are requested.</summary>
internal abstract class PostProcessor
{
    public abstract int[] Process(List<int> ids);

    public static PostProcessor? FromJson(TokenizerJson json)
    {
        if (json.IsNull) return null;
        return json.Type switch
        {
            "Sequence" => new SequencePostProcessor(json.Required("processors").Items().Select(p => FromJson(p)!).ToArray()),
            "ByteLevel" => new IdentityPostProcessor(),   // it only trims offsets, which we do not produce
            "TemplateProcessing" => TemplatePostProcessor.Parse(json),
            "BertProcessing" or "RobertaProcessing" => new TemplatePostProcessor(
                [TokenIdAt(json.Required("cls"))], [TokenIdAt(json.Required("sep"))]),
            var other => throw json.Error($"post_processor type \"{other}\" is not supported"),
        };
    }

    /// <summary>Bert/Roberta write special tokens as ["[CLS]", 101].</summary>
    private static int TokenIdAt(TokenizerJson pair) => pair.Items().ElementAt(1).Int(0);
}

internal sealed class IdentityPostProcessor : PostProcessor
{
    public override int[] Process(List<int> ids) => ids.ToArray();
}

internal sealed class SequencePostProcessor(PostProcessor[] processors) : PostProcessor
{
    public override int[] Process(List<int> ids)
    {
        int[] result = ids.ToArray();
        foreach (var p in processors) result = p.Process([.. result]);
        return result;
    }
}

/// <summary>TemplateProcessing's "single" template: special-token ids before and after sequence A.</summary>
internal sealed class TemplatePostProcessor(int[] before, int[] after) : PostProcessor
{
    public IReadOnlyList<int> Before => before;
    public IReadOnlyList<int> After => after;

    public static TemplatePostProcessor Parse(TokenizerJson json)
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
        return new TemplatePostProcessor(before.ToArray(), after.ToArray());
    }

    public override int[] Process(List<int> ids)
    {
        var result = new int[before.Length + ids.Count + after.Length];
        before.CopyTo(result, 0);
        ids.CopyTo(result, before.Length);
        after.CopyTo(result, before.Length + ids.Count);
        return result;
    }
}
