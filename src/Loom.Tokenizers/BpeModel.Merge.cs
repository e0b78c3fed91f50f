using System.Text;

namespace Loom.Tokenizers;

internal sealed partial class BpeModel
{
    /// <summary>One symbol of a word being merged; a doubly linked list over an array, Length 0 marks a removed one.</summary>
    private struct Symbol
    {
        public int Id, Prev, Next, Length;
    }

    /// <summary>tokenizers' BPE::merge_word then Word::merge_all (without dropout).</summary>
    private int[] MergeWord(ReadOnlySpan<char> word)
    {
        var symbols = new List<Symbol>(word.Length);
        int? pendingUnkLength = null;
        Span<char> scratch = stackalloc char[64];
        int i = 0;
        while (i < word.Length)
        {
            Rune.DecodeFromUtf16(word[i..], out var rune, out int used);
            bool isFirst = i == 0, isLast = i + used == word.Length;
            var piece = Decorate(word.Slice(i, used), isFirst, isLast, scratch, out string? decorated);
            if (_vocabBySpan.TryGetValue(decorated != null ? decorated.AsSpan() : piece, out int id))
            {
                FlushUnk(symbols, ref pendingUnkLength);
                Add(symbols, id, used);
            }
            else if (!(_byteFallback && TryAddByteFallback(symbols, rune)) && _unkId.HasValue)
            {
                if (pendingUnkLength.HasValue && _fuseUnk) pendingUnkLength += used;
                else
                {
                    FlushUnk(symbols, ref pendingUnkLength);
                    pendingUnkLength = used;
                }
            }
            i += used;
        }
        FlushUnk(symbols, ref pendingUnkLength);

        var array = symbols.ToArray();
        MergeAll(array);
        int count = 0;
        foreach (var s in array) if (s.Length != 0) count++;
        var ids = new int[count];
        int k = 0;
        foreach (var s in array) if (s.Length != 0) ids[k++] = s.Id;
        return ids;
    }

    private ReadOnlySpan<char> Decorate(ReadOnlySpan<char> ch, bool isFirst, bool isLast, Span<char> scratch, out string? decorated)
    {
        decorated = null;
        bool prefix = !isFirst && _continuingSubwordPrefix != null, suffix = isLast && _endOfWordSuffix != null;
        if (!prefix && !suffix) return ch;
        decorated = (prefix ? _continuingSubwordPrefix : "") + ch.ToString() + (suffix ? _endOfWordSuffix : "");
        return decorated;
    }

    /// <summary>byte_fallback: a character outside the vocab becomes its UTF-8 bytes, if every &lt;0xXX&gt; exists.</summary>
    private bool TryAddByteFallback(List<Symbol> symbols, Rune rune)
    {
        Span<byte> utf8 = stackalloc byte[4];
        int n = rune.EncodeToUtf8(utf8);
        for (int b = 0; b < n; b++) if (_byteFallbackIds[utf8[b]] < 0) return false;
        for (int b = 0; b < n; b++) Add(symbols, _byteFallbackIds[utf8[b]], 1);
        return true;
    }

    private void FlushUnk(List<Symbol> symbols, ref int? pendingUnkLength)
    {
        if (pendingUnkLength is not { } length) return;
        Add(symbols, _unkId!.Value, length);
        pendingUnkLength = null;
    }

    private static void Add(List<Symbol> symbols, int id, int length)
    {
        int index = symbols.Count;
        if (index > 0)
        {
            var last = symbols[index - 1];
            last.Next = index;
            symbols[index - 1] = last;
        }
        symbols.Add(new Symbol { Id = id, Prev = index - 1, Next = -1, Length = length });
    }

    /// <summary>Repeatedly applies the lowest-ranked merge (leftmost on ties); stale queue entries are skipped.</summary>
    private void MergeAll(Symbol[] symbols)
    {
        var queue = new PriorityQueue<int, long>(symbols.Length);
        for (int i = 0; i + 1 < symbols.Length; i++) Enqueue(queue, symbols, i);

        while (queue.TryDequeue(out int pos, out long priority))
        {
            ref var left = ref symbols[pos];
            if (left.Length == 0 || left.Next < 0) continue;
            int rank = (int)(priority >> 32);
            int nextPos = left.Next;
            ref var right = ref symbols[nextPos];
            if (!_mergeRanks.TryGetValue(Key(left.Id, right.Id), out int currentRank) || currentRank != rank) continue;

            left.Id = _mergeResults[rank];
            left.Length += right.Length;
            left.Next = right.Next;
            right.Length = 0;
            if (left.Next >= 0) symbols[left.Next].Prev = pos;

            if (left.Prev >= 0) Enqueue(queue, symbols, left.Prev);
            if (left.Next >= 0) Enqueue(queue, symbols, pos);
        }
    }

    private void Enqueue(PriorityQueue<int, long> queue, Symbol[] symbols, int pos)
    {
        var s = symbols[pos];
        if (s.Next < 0 || !_mergeRanks.TryGetValue(Key(s.Id, symbols[s.Next].Id), out int rank)) return;
        queue.Enqueue(pos, ((long)rank << 32) | (uint)pos);
    }
}
