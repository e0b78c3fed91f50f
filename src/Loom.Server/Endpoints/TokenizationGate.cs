namespace Loom.Server.Endpoints;

/// <summary>
/// At most one tokenization per core at a time: tokenizing runs on the request thread, and without a bound a burst of
/// large prompts would run them all at once, each holding its text, pieces and ids (memory that is not given back).
/// Waiters are cancelled with their request.
/// </summary>
internal sealed class TokenizationGate(int slots)
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, slots));

    public async Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            return work();
        }
        finally
        {
            _slots.Release();
        }
    }
}
