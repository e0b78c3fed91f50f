using System.Text;
using Loom.ChatTemplates;

namespace Loom.Server.Tests.Server.Fakes;

/// <summary>The demo model's ChatML template written out in C#, for tests that run before/without the Jinja engine.</summary>
internal sealed class ChatMlTemplate : IChatTemplate
{
    public string Render(ChatTemplateInput input)
    {
        var text = new StringBuilder();
        foreach (var m in input.Messages) text.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
        if (input.AddGenerationPrompt) text.Append("<|im_start|>assistant\n");
        return text.ToString();
    }
}
