namespace Loom.Grammar.Vocab;

/// <summary>
/// The vocabulary's byte strings as a trie laid out in depth-first order: node i's subtree is [i, SubtreeEnd[i]), so a
/// walk that finds a prefix dead skips all tokens under it in one jump. The root (empty prefix) is implicit.
/// </summary>
internal sealed class TokenTrie
{
    public TokenTrie(TokenVocabulary vocab)
    {
        int[] ids = [.. Enumerable.Range(0, vocab.Size).Where(t => vocab.BytesOf(t).Length > 0)];
        Array.Sort(ids, (a, b) => vocab.BytesOf(a).SequenceCompareTo(vocab.BytesOf(b)));
        var nodeByte = new List<byte>();
        var depth = new List<int>();
        var firstToken = new List<int>();
        NextSameBytes = Enumerable.Repeat(-1, vocab.Size).ToArray();
        int[] pathNode = new int[1 + ids.Select(t => vocab.BytesOf(t).Length).DefaultIfEmpty(0).Max()];
        ReadOnlySpan<byte> prev = [];
        foreach (int t in ids)
        {
            var bytes = vocab.BytesOf(t);
            int lcp = bytes.CommonPrefixLength(prev);
            if (lcp == bytes.Length && lcp == prev.Length)
            {
                // Same bytes as the previous token: chain it behind the node's first token.
                int node = pathNode[lcp];
                NextSameBytes[t] = firstToken[node];
                firstToken[node] = t;
                continue;
            }
            for (int d = lcp; d < bytes.Length; d++)
            {
                pathNode[d + 1] = nodeByte.Count;
                nodeByte.Add(bytes[d]);
                depth.Add(d + 1);
                firstToken.Add(-1);
            }
            firstToken[^1] = t;
            prev = bytes;
        }
        NodeByte = [.. nodeByte];
        Depth = [.. depth];
        FirstToken = [.. firstToken];
        SubtreeEnd = BuildSubtreeEnds(Depth);
        MaxDepth = pathNode.Length - 1;
    }

    public byte[] NodeByte { get; }       // [nodes] the byte on the edge into this node
    public int[] Depth { get; }           // [nodes] bytes from the root, >= 1
    public int[] FirstToken { get; }      // [nodes] a token whose bytes end here, or -1
    public int[] SubtreeEnd { get; }      // [nodes] first node after this node's subtree
    public int[] NextSameBytes { get; }   // [vocab] next token with identical bytes, or -1
    public int MaxDepth { get; }
    public int NodeCount => NodeByte.Length;

    private static int[] BuildSubtreeEnds(int[] depth)
    {
        var end = new int[depth.Length];
        var open = new Stack<int>();
        for (int i = 0; i < depth.Length; i++)
        {
            while (open.Count > 0 && depth[open.Peek()] >= depth[i]) end[open.Pop()] = i;
            open.Push(i);
        }
        while (open.Count > 0) end[open.Pop()] = depth.Length;
        return end;
    }
}
