using Loom.Core.Requests;

namespace Loom.Core.Scheduling;

public sealed partial class Scheduler
{
    /// <summary>
    /// The running request to evict: the lowest priority under priority scheduling, then the most recent arrival.
    /// The oldest request is therefore never evicted while others run, and intake guarantees it fits alone, so the
    /// scheduler always makes progress.
    /// </summary>
    private Request PickPreemptionVictim()
    {
        Request victim = _running[0];
        foreach (var candidate in _running)
            if (PreemptsBefore(candidate, victim)) victim = candidate;
        return victim;
    }

    private bool PreemptsBefore(Request a, Request b)
    {
        if (Config.PriorityScheduling && a.Priority != b.Priority) return a.Priority > b.Priority;
        return a.ArrivalOrder > b.ArrivalOrder;
    }

    /// <summary>Drops the victim's entry from this step if it was already scheduled; returns the tokens given back.</summary>
    private int Unschedule(Request victim)
    {
        for (int i = 0; i < _scheduled.Count; i++)
        {
            if (_scheduled[i].Request != victim) continue;
            int tokens = _scheduled[i].NumNewTokens;
            _scheduled.RemoveAt(i);
            return tokens;
        }
        return 0;
    }

    /// <summary>Frees all the victim's blocks and sends it back to waiting; it recomputes prompt and outputs later.</summary>
    private void Preempt(Request victim)
    {
        _running.Remove(victim);
        KvCache.Free(victim);
        victim.ClearSpecTokens(); // proposed for KV that is gone; the runner drafts again once it decodes
        victim.NumComputedTokens = 0;
        victim.Status = RequestStatus.Preempted;
        victim.NumPreemptions++;
        NumPreemptions++;
        _waiting.Insert(victim);
    }
}
