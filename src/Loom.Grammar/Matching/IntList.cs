namespace Loom.Grammar.Matching;

/// <summary>A growable int buffer reused across steps, so the hot paths allocate only while it is still growing.</summary>
internal sealed class IntList(int capacity = 16)
{
    private int[] _items = new int[capacity];

    public int Count { get; private set; }
    public ReadOnlySpan<int> Span => _items.AsSpan(0, Count);
    public int this[int i] => _items[i];

    public void Add(int value)
    {
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = value;
    }

    public void AddRange(ReadOnlySpan<int> values)
    {
        foreach (int v in values) Add(v);
    }

    public void Clear() => Count = 0;

    public void Truncate(int count) => Count = count;
}
