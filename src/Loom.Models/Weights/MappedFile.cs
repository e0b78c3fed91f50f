using System.IO.MemoryMappedFiles;
using Loom.IO;

namespace Loom.Models.Weights;

/// <summary>
/// A whole file mapped read-only, with its base pointer acquired from the view's SafeHandle and released on Dispose.
/// Tensors point into it, so it must outlive them.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private bool _pointerAcquired;

    public string Path { get; }
    public long Length { get; }
    public byte* Pointer { get; }

    private MappedFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        Pointer = pointer;
        _pointerAcquired = true;
    }

    /// <summary>Maps <paramref name="path"/>; files shorter than <paramref name="minLength"/> are rejected before mapping.</summary>
    public static MappedFile Open(string path, long minLength)
    {
        RegularFile.Require(path);
        FileStream? stream = null;
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = stream.Length;
            if (length < Math.Max(1, minLength))
                throw new ModelLoadException($"{path}: file is too short ({length} bytes).");
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new MappedFile(path, length, map, view, pointer + view.PointerOffset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Release(stream, map, view);
            throw new ModelLoadException($"Cannot map {path}: {e.Message}", e);
        }
        catch
        {
            Release(stream, map, view);
            throw;
        }
    }

    private static void Release(FileStream? stream, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        view?.Dispose();
        map?.Dispose(); // owns the stream once created (leaveOpen: false)
        if (map == null) stream?.Dispose();
    }

    public ReadOnlySpan<byte> Span(long offset, int length) => new(Pointer + offset, length);

    public void Dispose()
    {
        if (_pointerAcquired)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointerAcquired = false;
        }
        _view.Dispose();
        _map.Dispose();
    }
}
