using System.Runtime.InteropServices;

namespace Loom.IO;

/// <summary>
/// The libc call behind <see cref="RegularFile"/>. .NET reports a FIFO, socket or device as FileAttributes.Normal with
/// length 0, the same as an empty file, so the file type comes from statx(2) (Linux; one layout on every architecture).
/// Elsewhere, or on a libc without statx, the type is Unknown and callers fall back to what .NET can tell.
/// </summary>
internal static partial class NativeMethods
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;        // STATX_TYPE: only stx_mode's type bits are wanted
    private const int ENOENT = 2, ENOTDIR = 20;

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct Statx
    {
        [FieldOffset(28)] public ushort Mode;  // stx_mode, after stx_mask, stx_blksize, stx_attributes, nlink, uid, gid
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxCall(int dirFd, string path, int flags, uint mask, out Statx buffer);

    private static bool s_statxMissing;

    /// <summary>The type of what <paramref name="path"/> names, following symlinks.</summary>
    public static FileType FileTypeOf(string path)
    {
        if (!OperatingSystem.IsLinux() || s_statxMissing) return FileType.Unknown;
        int result;
        Statx buffer;
        try { result = StatxCall(AtFdCwd, path, 0, StatxType, out buffer); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            s_statxMissing = true;
            return FileType.Unknown;
        }
        if (result != 0) return Marshal.GetLastPInvokeError() is ENOENT or ENOTDIR ? FileType.Missing : FileType.Unknown;
        return (buffer.Mode & 0xF000) switch
        {
            0x8000 => FileType.Regular,
            0x4000 => FileType.Directory,
            0x1000 => FileType.Fifo,
            0xC000 => FileType.Socket,
            0x2000 => FileType.CharacterDevice,
            0x6000 => FileType.BlockDevice,
            0xA000 => FileType.Symlink,
            _ => FileType.Unknown,
        };
    }
}
