using System.Diagnostics;

namespace Loom.Tokenizers;

/// <summary>A tokenizer.json "post_processor" for single sequences; it runs only when special tokens are requested.</summary>
internal abstract class PostProcessor
{
    public abstract int[] Process(List<int> ids);

    public static PostProcessor? From(PostProcessorDefinition? definition) => definition switch
    {
        null => null,
        PostProcessorDefinition.Sequence s => new SequencePostProcessor(s.Processors.Select(p => From(p)!).ToArray()),
        PostProcessorDefinition.ByteLevel => new IdentityPostProcessor(),
        PostProcessorDefinition.Template t => new TemplatePostProcessor([.. t.Before], [.. t.After]),
        _ => throw new UnreachableException($"post_processor {definition}"),
    };
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

    public override int[] Process(List<int> ids)
    {
        var result = new int[before.Length + ids.Count + after.Length];
        before.CopyTo(result, 0);
        ids.CopyTo(result, before.Length);
        after.CopyTo(result, before.Length + ids.Count);
        return result;
    }
}
