using Loom.Core.Requests;

namespace Loom.Core.Scheduling;

/// <summary>
/// Requests waiting for admission, kept sorted by (priority when enabled, arrival order). A preempted request
/// re-enters at its arrival position, ahead of everything that arrived after it, so it cannot starve.
/// </summary>
internal sealed class WaitingQueue(bool byPriority)
{
    private readonly List<Request> _requests = [];

    public int Count => _requests.Count;
    public Request this[int index] => _requests[index];

    public void Insert(Request request)
    {
        int lo = 0, hi = _requests.Count;
        while (lo < hi) // first index whose key is greater than the request's
        {
            int mid = (lo + hi) >>> 1;
            if (Compare(_requests[mid], request) <= 0) lo = mid + 1;
            else hi = mid;
        }
        _requests.Insert(lo, request);
    }

    public void RemoveAt(int index) => _requests.RemoveAt(index);

    public bool Remove(Request request) => _requests.Remove(request);

    private int Compare(Request a, Request b)
    {
        if (byPriority && a.Priority != b.Priority) return a.Priority.CompareTo(b.Priority);
        return a.ArrivalOrder.CompareTo(b.ArrivalOrder);
    }
}
