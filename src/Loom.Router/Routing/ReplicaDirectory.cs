namespace Loom.Router.Routing;

/// <summary>The replicas the router was given, by YARP destination id, each with its prefix index.</summary>
public sealed class ReplicaDirectory
{
    private readonly Dictionary<string, PrefixIndex> _indexes;

    /// <param name="indexCapacityBlocks">Blocks each replica's prefix index remembers (its LRU bound).</param>
    public ReplicaDirectory(IReadOnlyList<string> addresses, int indexCapacityBlocks)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0) throw new ArgumentException("At least one --replica is required.", "--replica");
        Addresses = addresses;
        _indexes = addresses.Select((_, i) => DestinationId(i)).ToDictionary(id => id, _ => new PrefixIndex(indexCapacityBlocks));
    }

    public IReadOnlyList<string> Addresses { get; }

    /// <summary>YARP's name for the i-th replica.</summary>
    public static string DestinationId(int i) => $"replica-{i}";

    public PrefixIndex IndexOf(string destinationId) => _indexes[destinationId];

    /// <summary>
    /// Forgets what the replica at <paramref name="address"/> was thought to cache: it stopped answering, and a
    /// replica that comes back has restarted with an empty cache, so affinity to the old index would misroute.
    /// </summary>
    public void ForgetCacheOf(string address)
    {
        for (int i = 0; i < Addresses.Count; i++)
            if (Addresses[i] == address) _indexes[DestinationId(i)].ForgetRouted();
    }
}
