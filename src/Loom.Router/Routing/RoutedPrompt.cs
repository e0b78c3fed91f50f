namespace Loom.Router.Routing;

/// <summary>
/// The request's prompt blocks, computed by <see cref="Proxy.PromptHashing"/> before YARP picks a replica (the pick is
/// synchronous and cannot read the body), and carried on the HttpContext's features.
/// </summary>
public sealed record RoutedPrompt(PromptBlocks Blocks, int BlockSize)
{
    public bool Known => Blocks.Hashes.Length > 0 || Blocks.MatchableBlocks > 0;
}
