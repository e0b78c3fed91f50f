using Loom.Core.Requests;
using Loom.Engine;
using Loom.Engine.ToolCalls;
using Loom.Server.Api;

namespace Loom.Server.Endpoints;

/// <summary>
/// A chat choice's text read through the request's tool-call parser (when its plan has one) and shaped as OpenAI
/// shapes calls: message.tool_calls whole, or per call a chunk with index, id, type and name, then chunks with pieces
/// of its arguments. A choice that made calls and stopped finishes with "tool_calls".
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
    /// <remarks>Arguments stream as they are generated where the plan's grammar guarantees the calls parse.</remarks>
    public static Stream[]? Streams(ToolCallPlan plan, int n) => plan.Parser is { } parser
        ? Enumerable.Range(0, n).Select(_ => new Stream(parser.CreateStream(plan.AllowParallel, streamArguments: plan.Constraint is not null))).ToArray()
        : null;

    private static FinishReason Finished(FinishReason reason, int calls) =>
        calls > 0 && reason == FinishReason.Stop ? FinishReason.ToolCalls : reason;

    /// <summary>One choice's deltas through its tool-call stream.</summary>
    public sealed class Stream(ToolCallStream calls)
    {
        /// <summary>The content the delta released, its call pieces as OpenAI sends them, and its finish reason as the client sees it.</summary>
        public (string Text, List<ChatToolCallDelta> Calls, FinishReason? Finish) Add(CompletionDelta delta)
        {
            var update = calls.Feed(delta.NewText);
            var text = update.Content;
            var pieces = update.Deltas.Select(ToChunk).ToList();
            if (delta.FinishReason is not { } finish) return (text, pieces, null);
            var last = calls.Finish();
            pieces.AddRange(last.Deltas.Select(ToChunk));
            return (text + last.Content, pieces, Finished(finish, calls.CallCount));
        }

        /// <summary>A call's start (index, id, type, name, empty arguments) or a piece of its arguments (index and arguments).</summary>
        private static ChatToolCallDelta ToChunk(ToolCallDelta piece) => piece.IsStart
            ? new ChatToolCallDelta(piece.Index) { Id = piece.Id, Type = "function", Function = new ChatFunctionCallDelta { Name = piece.Name, Arguments = "" } }
            : new ChatToolCallDelta(piece.Index) { Function = new ChatFunctionCallDelta { Arguments = piece.Arguments } };
    }
}
