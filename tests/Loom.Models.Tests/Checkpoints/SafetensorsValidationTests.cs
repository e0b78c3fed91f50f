using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Loom.Models.Weights;

namespace Loom.Models.Tests.Checkpoints;

/// <summary>Files that lie about their contents are rejected with a message naming the file and the tensor.</summary>
public class SafetensorsValidationTests
{
    private static ModelLoadException Reject(byte[] file, string? expectedInMessage = null)
    {
        using var dir = new TestSafetensors.TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, file);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsWeightSource.OpenFile(path).Dispose());
        Assert.Contains(path, e.Message);
        if (expectedInMessage != null) Assert.Contains(expectedInMessage, e.Message);
        return e;
    }

    private static byte[] WithHeader(string json, int dataBytes = 8) => TestSafetensors.Assemble(json, new byte[dataBytes]);

    [Fact]
    public void ValidFileRoundTrips()
    {
        using var dir = new TestSafetensors.TempDir();
        var a = TestSafetensors.F32("a", [2, 3], 1);
        var b = new RawTensor("b", "BF16", [4], [1, 2, 3, 4, 5, 6, 7, 8]);
        var empty = new RawTensor("empty", "F16", [0, 5], []);
        File.WriteAllBytes(dir.File("ok.safetensors"), TestSafetensors.Build([a, empty, b], new Dictionary<string, string> { ["k"] = "v" }));
        using var w = SafetensorsWeightSource.OpenFile(dir.File("ok.safetensors"));
        Assert.True(w.Get("a").Bytes.SequenceEqual(a.Data));
        Assert.True(w.Get("b").Bytes.SequenceEqual(b.Data));
        Assert.Equal(0, w.Get("empty").ByteLength);
        Assert.Equal([2L, 3L], w.Get("a").Shape);
        Assert.Equal("v", w.Metadata["k"]);
    }

    [Fact]
    public void TooShort() => Reject([1, 2, 3], "too short");

    [Fact]
    public void EmptyFile() => Reject([], "too short");

    [Fact]
    public void HeaderLengthPastTheEnd()
    {
        var file = TestSafetensors.Assemble("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8], claimedHeaderLength: 1000);
        Reject(file, "past the end");
    }

    [Fact]
    public void HugeHeaderLength()
    {
        var file = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(file, ulong.MaxValue);
        Reject(file, "limit");
    }

    [Fact]
    public void NotJson() => Reject(WithHeader("{\"a\": [1, 2,"), "not valid JSON");

    [Fact]
    public void NotAnObject() => Reject(WithHeader("[1, 2, 3]"), "not a JSON object");

    [Fact]
    public void OffsetsOutOfRange() =>
        Reject(WithHeader("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"""), "'a'");

    [Fact]
    public void NegativeOffsets() =>
        Reject(WithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"""), "'a'");

    [Fact]
    public void OverlappingTensors()
    {
        var e = Reject(WithHeader("""
            {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}
            """), "overlap");
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void HoleInDataRegion() =>
        Reject(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"""), "gap");

    [Fact]
    public void TrailingBytesNotCovered() =>
        Reject(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"""), "trailing");

    [Fact]
    public void ShapeDisagreesWithByteCount() =>
        Reject(WithHeader("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"""), "needs 12 bytes");

    [Fact]
    public void ShapeOverflow() =>
        Reject(WithHeader("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"""), "'a'");

    [Fact]
    public void UnknownDtype() =>
        Reject(WithHeader("""{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}"""), "F8_E4M3");

    [Fact]
    public void DuplicateNames() =>
        Reject(WithHeader("""
            {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}
            """), "twice");

    [Theory]
    [InlineData("""{"a":{"shape":[2],"data_offsets":[0,8]}}""", "dtype")]
    [InlineData("""{"a":{"dtype":"F32","data_offsets":[0,8]}}""", "shape")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", "shape")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "shape")]
    [InlineData("""{"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}""", "dtype")]
    [InlineData("""{"a":3}""", "not an object")]
    [InlineData("""{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", "__metadata__")]
    public void MalformedEntries(string header, string expected) => Reject(WithHeader(header), expected);

    /// <summary>
    /// Many mutated files (byte flips in the header, truncations, rewritten lengths, offsets, shapes and dtypes): each
    /// one either loads with every tensor consistent with its header and inside the file, or throws ModelLoadException.
    /// </summary>
    [Fact]
    public void FuzzedFilesLoadConsistentlyOrThrowModelLoadException()
    {
        var valid = TestSafetensors.Build([
            TestSafetensors.F32("model.a", [3, 4], 1),
            new RawTensor("model.b", "BF16", [5], new byte[10]),
            new RawTensor("model.c", "I64", [2], new byte[16]),
            TestSafetensors.F32("model.d", [7], 2),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        string headerJson = Encoding.UTF8.GetString(valid, 8, headerLength);
        var rng = new Random(20261123);
        using var dir = new TestSafetensors.TempDir();
        string path = dir.File("fuzz.safetensors");
        int loaded = 0, rejected = 0;
        for (int i = 0; i < 600; i++)
        {
            byte[] file = Mutate(valid, headerJson, headerLength, rng, i % 6);
            File.WriteAllBytes(path, file);
            try
            {
                using var w = SafetensorsWeightSource.OpenFile(path);
                AssertConsistent(w, file);
                loaded++;
            }
            catch (ModelLoadException)
            {
                rejected++;
            }
        }
        Assert.True(rejected > 300, $"only {rejected} of 600 mutations were rejected");
        Assert.True(loaded > 0, "no mutation produced a loadable file (the harness itself may be broken)");
    }

    private static byte[] Mutate(byte[] valid, string headerJson, int headerLength, Random rng, int kind)
    {
        byte[] file = (byte[])valid.Clone();
        switch (kind)
        {
            case 0: // flip a few bytes inside the header
                for (int k = rng.Next(1, 4); k > 0; k--) file[8 + rng.Next(headerLength)] ^= (byte)(1 << rng.Next(8));
                return file;
            case 1: // truncate anywhere
                return file.AsSpan(0, rng.Next(file.Length)).ToArray();
            case 2: // lie about the header length
                BinaryPrimitives.WriteUInt64LittleEndian(file, rng.Next(3) switch
                {
                    0 => (ulong)rng.Next(0, file.Length + 64),
                    1 => (ulong)rng.NextInt64(),
                    _ => ulong.MaxValue - (ulong)rng.Next(100),
                });
                return file;
            case 3: // replace a number in the header with another
                return ReplaceNumber(headerJson, file, headerLength, rng);
            case 4: // swap the dtype of a tensor
                string[] dtypes = ["F32", "F16", "BF16", "I64", "I8", "U8", "BOOL", "F64", "F8_E5M2", "Q4", ""];
                var json = headerJson.Replace("\"BF16\"", $"\"{dtypes[rng.Next(dtypes.Length)]}\"");
                return TestSafetensors.Assemble(json.TrimEnd(), file.AsSpan(8 + headerLength).ToArray());
            default: // flip bytes anywhere in the file (data flips must still load)
                for (int k = rng.Next(1, 6); k > 0; k--) file[rng.Next(file.Length)] ^= (byte)rng.Next(1, 256);
                return file;
        }
    }

    private static byte[] ReplaceNumber(string headerJson, byte[] file, int headerLength, Random rng)
    {
        var digits = Enumerable.Range(0, headerJson.Length).Where(i => char.IsAsciiDigit(headerJson[i])
            && (i == 0 || !char.IsAsciiDigit(headerJson[i - 1]))).ToList();
        int start = digits[rng.Next(digits.Count)];
        int end = start;
        while (end < headerJson.Length && char.IsAsciiDigit(headerJson[end])) end++;
        string[] replacements = ["0", "1", "3", "4", "8", "12", "48", "-1", "99999999999", "18446744073709551615", "1e3", "2.5"];
        string json = headerJson[..start] + replacements[rng.Next(replacements.Length)] + headerJson[end..];
        return TestSafetensors.Assemble(json.TrimEnd(), file.AsSpan(8 + headerLength).ToArray());
    }

    /// <summary>A loaded file must agree with its own header: bytes at 8 + N + begin, sizes from shape and dtype, full coverage.</summary>
    private static void AssertConsistent(SafetensorsWeightSource w, byte[] file)
    {
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        using var doc = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
        long covered = 0;
        foreach (var (name, t) in w.Tensors)
        {
            var offsets = doc.RootElement.GetProperty(name).GetProperty("data_offsets");
            long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
            Assert.Equal(end - begin, t.ByteLength);
            Assert.Equal(DTypes.ByteCount(t.DType, t.ElementCount), t.ByteLength);
            Assert.True(t.Bytes.SequenceEqual(file.AsSpan((int)(8 + headerLength + begin), (int)t.ByteLength)), name);
            covered += t.ByteLength;
        }
        Assert.Equal(file.Length - 8 - headerLength, covered);
    }
}
