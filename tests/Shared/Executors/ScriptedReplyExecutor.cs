using Loom.Backends;
using Loom.Models.Config;
using Loom.Tokenizers;

namespace Loom.Tests;

/// <summary>
/// An executor whose logits make greedy sampling write a chosen reply (the real model's shapes and KV layout, but
/// its forward pass is skipped: its logits would be overwritten anyway, and the tests stay fast):
/// <see cref="Reply"/> gets the conversation so far (the sequence's tokens decoded, up to the last assistant header)
/// and names the whole reply; each step picks the first token of what is left of it, then EOS. Everything else
/// (scheduler, KV cache, sampler, detokenizer, stop rules) runs for real. It tracks each sequence's tokens by its first
/// KV block, so the engine it serves must run with prefix caching off (every prefill starts at position 0).
/// </summary>
internal sealed class ScriptedReplyExecutor(IModelExecutor inner, ITokenizer tokenizer, int eosTokenId, string assistantHeader,
    Func<string, string> reply) : IModelExecutor
{
    private readonly Dictionary<int, List<int>> _tokens = []; // first KV block id -> the sequence's tokens so far
    private float[] _logits = []; // [numLogits, vocab]

    public Func<string, string> Reply { get; } = reply;
    public ModelConfig Config => inner.Config;
    public KvCacheSpec KvCache => inner.KvCache;
    public long BlockBytes => inner.BlockBytes;

    public Span<float> Forward(ForwardBatch batch)
    {
        int vocab = Config.VocabSize;
        if (_logits.Length < batch.NumLogits * vocab) _logits = new float[batch.MaxNumLogits * vocab];
        var logits = _logits.AsSpan(0, batch.NumLogits * vocab);
        for (int s = 0; s < batch.NumSeqs; s++)
        {
            var seq = batch.Seqs[s];
            int start = batch.Positions[seq.QueryStart];
            if (start == 0 || !_tokens.ContainsKey(seq.BlockTable[0])) _tokens[seq.BlockTable[0]] = [];
            var tokens = _tokens[seq.BlockTable[0]];
            tokens.AddRange(batch.TokenIds.AsSpan(seq.QueryStart, seq.QueryLength).ToArray());
            for (int r = 0; r < batch.NumLogits; r++)
                if (batch.LogitsIndices[r] == seq.QueryStart + seq.QueryLength - 1)
                {
                    var row = logits.Slice(r * vocab, vocab);
                    row.Fill(-30f);
                    row[NextToken(tokens)] = 30f;
                }
        }
        return logits;
    }

    private int NextToken(List<int> tokens)
    {
        var text = tokenizer.Decode(tokens.ToArray(), skipSpecialTokens: false);
        int header = text.LastIndexOf(assistantHeader, StringComparison.Ordinal);
        if (header < 0) return eosTokenId;
        var conversation = text[..header];
        var written = text[(header + assistantHeader.Length)..];
        var target = Reply(conversation);
        if (written.Length >= target.Length || !target.StartsWith(written, StringComparison.Ordinal)) return eosTokenId;
        return tokenizer.Encode(target[written.Length..], addSpecialTokens: false)[0];
    }

    public void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst) => inner.CopyBlocks(src, dst);

    public void ExportBlocks(ReadOnlySpan<int> blockIds, Span<byte> destination) => inner.ExportBlocks(blockIds, destination);

    public void ImportBlocks(ReadOnlySpan<int> blockIds, ReadOnlySpan<byte> source) => inner.ImportBlocks(blockIds, source);

    public void Dispose() => inner.Dispose();
}
