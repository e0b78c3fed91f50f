using Loom.Core.Requests;
using Loom.Engine;
using Loom.Engine.ToolCalls;
using Loom.Server.Api;

namespace Loom.Server.Endpoints;

/// <summary>
/// A chat choice's text read through the request's tool-call parser (when its plan has one) and shaped as OpenAI
/// shapes calls: message.tool_calls whole, or per call a chunk with index, id, type and name, then one with its
/// arguments. A choice that made calls and stopped finishes with "tool_calls".
/// </summary>
internal static class ChatToolOutput
{
    public static (ChatResponseMessage Message, FinishReason Reason) Message(ToolCallPlan plan, string text, FinishReason reason)
    {
        if (plan.Parser is null) return (new ChatResponseMessage("assistant", text), reason);
        var (content, calls) = ToolCallStream.ParseWhole(plan.Parser, text, plan.AllowParallel);
        if (calls.Count == 0) return (new ChatResponseMessage("assistant", text), reason);
        var toolCalls = calls.Select(c => new ChatToolCallOut(c.Id, "function", new ChatFunctionCallOut(c.Name, c.Arguments))).ToList();
        return (new ChatResponseMessage("assistant", content) { ToolCalls = toolCalls }, Finished(reason, calls.Count));
    }

    /// <summary>One stream per choice, or null when the plan reads no calls.</summary>
    public static Stream[]? Streams(ToolCallPlan plan, int n) =>
        plan.Parser is { } parser ? Enumerable.Range(0, n).Select(_ => new Stream(parser.CreateStream(plan.AllowParallel))).ToArray() : null;

    private static FinishReason Finished(FinishReason reason, int calls) =>
        calls > 0 && reason == FinishReason.Stop ? FinishReason.ToolCalls : reason;

    /// <summary>The two chunks of one call: index, id, type and name first; then its arguments.</summary>
    public readonly record struct CallChunks(ChatToolCallDelta Name, ChatToolCallDelta Arguments);

    /// <summary>One choice's deltas through its tool-call stream.</summary>
    public sealed class Stream(ToolCallStream calls)
    {
        private int _nextIndex;

        /// <summary>The content the delta released, the calls it completed, and its finish reason as the client sees it.</summary>
        public (string Text, List<CallChunks> Calls, FinishReason? Finish) Add(CompletionDelta delta)
        {
            var update = calls.Feed(delta.NewText);
            var text = update.Content;
            var chunks = update.Calls.Select(ToChunks).ToList();
            if (delta.FinishReason is not { } finish) return (text, chunks, null);
            var last = calls.Finish();
            chunks.AddRange(last.Calls.Select(ToChunks));
            return (text + last.Content, chunks, Finished(finish, calls.CallCount));
        }

        private CallChunks ToChunks(ToolCall call)
        {
            int index = _nextIndex++;
            return new CallChunks(
                new ChatToolCallDelta(index) { Id = call.Id, Type = "function", Function = new ChatFunctionCallDelta { Name = call.Name, Arguments = "" } },
                new ChatToolCallDelta(index) { Function = new ChatFunctionCallDelta { Arguments = call.Arguments } });
        }
    }
}
