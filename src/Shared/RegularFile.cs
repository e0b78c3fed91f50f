namespace Loom.IO;

/// <summary>
/// Model files are read whole or memory-mapped, so only regular files qualify: opening a FIFO blocks until a writer
/// appears (the loader would sit at "Loading ...: 0%" for good), a device can be endless, a directory is not a file.
/// Symlinks are followed, since checkpoints are often links into the Hugging Face cache. One source compiled into each
/// project that opens files by path (src/Shared), so the tokenizer and the model loader refuse the same things while
/// neither depends on the other.
/// </summary>
internal static partial class RegularFile
{
    /// <summary>Null when <paramref name="path"/> names, through any symlinks, a regular file; else why not.</summary>
    public static string? Problem(string path)
    {
        string shown = path + Through(path);
        if (Directory.Exists(path)) return $"{shown} is a directory, not a file.";
        return NativeMethods.FileTypeOf(path) switch
        {
            FileType.Regular or FileType.Unknown when File.Exists(path) => null,
            FileType.Regular or FileType.Unknown or FileType.Missing => $"File not found: {shown}",
            FileType.Fifo => $"{shown} is a FIFO (named pipe), not a regular file: opening it would wait for a writer.",
            FileType.Socket => $"{shown} is a socket, not a regular file.",
            FileType.CharacterDevice or FileType.BlockDevice => $"{shown} is a device, not a regular file.",
            var other => $"{shown} is not a regular file ({other}).",
        };
    }

    /// <summary>" (a link to /real/path)" when path is a symlink, so the message shows what was actually found.</summary>
    private static string Through(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is null) return "";
            return info.ResolveLinkTarget(returnFinalTarget: true) is { } target ? $" (a link to {target.FullName})" : "";
        }
        catch (IOException e)
        {
            return $" (a link that does not resolve: {e.Message})";
        }
    }
}

internal enum FileType { Unknown, Missing, Regular, Directory, Fifo, Socket, CharacterDevice, BlockDevice, Symlink }
