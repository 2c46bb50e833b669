using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Weights;

/// <summary>
/// A safetensors file. The header is read and checked when the file is opened; tensor data is taken only when a
/// tensor is loaded: a model's weight on the CPU in its stored dtype is given the file's own pages as its memory
/// (<see cref="LoadInto"/>, <see cref="WeightMapping"/>); anything else is read straight from the file into memory of
/// its own (the mapping also serves <see cref="RawBytes"/>).
/// </summary>
/// <remarks>
/// <see cref="Load"/> reads instead of mapping: a tensor it returns is often used once and dropped (quantized, converted,
/// concatenated), and pages touched through the file's mapping would stay resident until the file is closed, which
/// would hold a whole full-precision checkpoint in memory while it is quantized.
/// </remarks>
/// <remarks>
/// Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to its dtype,
/// shape and [begin, end) byte offsets relative to the data that follows the header, and an optional
/// "__metadata__" object of strings.
/// </remarks>
public sealed unsafe class SafetensorsFile : ITensorSource
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly Dictionary<string, TensorInfo> _tensors;
    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _data;
    private readonly SafeFileHandle? _file;
    private readonly long _dataStart;
    private readonly long _fileLength;
    private Tensor? _mappedBytes;
    private readonly Lock _mappingGate = new();
    private readonly List<(nint Start, long Length)> _notYetResident = [];
    private bool _disposed;

    private SafetensorsFile(string path, Dictionary<string, TensorInfo> tensors, IReadOnlyDictionary<string, string> metadata,
        long dataStart, long fileLength)
    {
        Path = path;
        _tensors = tensors;
        Metadata = metadata;
        _dataStart = dataStart;
        _fileLength = fileLength;
        if (fileLength > 0)
        {
            _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
            _mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            _data = start + _view.PointerOffset + dataStart;
        }
    }

    public string Path { get; }

    public string Description => Path;

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IReadOnlyCollection<string> Names => _tensors.Keys;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"{Path}: there is no tensor named '{name}'.");

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: the weight file does not exist.", path);
        var (tensors, metadata, dataStart, fileLength) = ReadHeader(path);
        return new SafetensorsFile(path, tensors, metadata, dataStart, fileLength);
    }

    public Tensor Load(string name, ScalarType? dtype = null, Device? device = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var info = Info(name);
        var tensor = empty(info.Shape, info.DType);
        if (info.ByteLength > 0)
            ReadInto(tensor, info);
        if ((dtype == null || dtype == info.DType) && (device == null || device.type == DeviceType.CPU))
            return tensor;
        using (tensor)
            return tensor.to(dtype ?? info.DType, device ?? CPU);
    }

    /// <summary>
    /// Gives a CPU tensor of the same dtype and shape the stored values: the file's pages become its memory when they
    /// can (see <see cref="WeightMapping"/>), else the bytes are read straight into its memory; other targets get a
    /// converted copy. A target that is a view into a larger tensor is always written into, never given new memory.
    /// </summary>
    public void LoadInto(string name, Tensor target)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var info = Info(name);
        if (target.device_type == DeviceType.CPU && target.dtype == info.DType && target.is_contiguous()
            && target.shape.SequenceEqual(info.Shape))
        {
            if (OwnsItsStorage(target, info.ByteLength) && Mapped(info) is { } mapped)
            {
                using (mapped)
                using (no_grad())
                    target.set_(mapped);
                // Made resident by CompleteLoading, together with the other weights of the model.
                lock (_mappingGate)
                    _notYetResident.Add(WeightMapping.Range(target));
            }
            else if (info.ByteLength > 0)
                ReadInto(target, info);
            return;
        }
        using var value = Load(name);
        using var _ = no_grad();
        target.copy_(value);
    }

    /// <summary>Makes the weights given mapped pages by <see cref="LoadInto"/> resident, on every core.</summary>
    /// <exception cref="SafetensorsException">The file was cut short since it was opened.</exception>
    public void CompleteLoading()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        List<(nint Start, long Length)> ranges;
        lock (_mappingGate)
        {
            ranges = [.. _notYetResident];
            _notYetResident.Clear();
        }
        if (!WeightMapping.Populate(ranges))
            throw Truncated();
    }

    /// <summary>
    /// The stored tensor as a view of the file's copy-on-write mapping, or null when weights are not mapped or its data
    /// is not aligned for its dtype.
    /// </summary>
    private Tensor? Mapped(TensorInfo info)
    {
        if (!WeightMapping.IsEnabled || info.ByteLength == 0) return null;
        long start = _dataStart + info.ByteOffset;
        if (start % SafetensorsDType.SizeOf(info.DType) != 0) return null;
        var bytes = MappedBytes().narrow(0, start, info.ByteLength);
        if (info.DType != ScalarType.Byte) return MappedBytesView.Create(bytes, info);
        using (bytes)
            return bytes.view(info.Shape);
    }

    /// <summary>The whole file as one tensor of bytes, mapped once whatever dtypes the file stores (see <see cref="MappedBytesView"/>).</summary>
    private Tensor MappedBytes()
    {
        lock (_mappingGate)
        {
            if (_mappedBytes is { } mapping) return mapping;
            if (RandomAccess.GetLength(_file!) < _fileLength)
                throw Truncated();
            mapping = from_file(Path, shared: false, size: _fileLength, dtype: ScalarType.Byte);
            // Owned by this file, whatever dispose scope it was first needed in; the tensors made from it keep the
            // mapping alive after the file is closed.
            mapping.DetachFromDisposeScope();
            return _mappedBytes = mapping;
        }
    }

    /// <summary>Whether a tensor is all of its storage (not a view into another one's), so that it can be given other memory.</summary>
    private static bool OwnsItsStorage(Tensor tensor, long bytes)
    {
        if (tensor.storage_offset() != 0) return false;
        return (long)THSStorage_nbytes(tensor.Handle) == bytes;
    }

    // at::Storage::nbytes, through the entry point TorchSharp's own Storage wrapper calls, without its typed wrapper.
    [System.Runtime.InteropServices.DllImport("LibTorchSharp")]
    private static extern ulong THSStorage_nbytes(IntPtr tensor);

    private SafetensorsException Truncated() => new(Path, "the file ended early; it was truncated while open.");

    /// <summary>The raw stored bytes of a tensor (for tests and for copying files without decoding).</summary>
    public ReadOnlySpan<byte> RawBytes(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var info = Info(name);
        return new ReadOnlySpan<byte>(_data + info.ByteOffset, checked((int)info.ByteLength));
    }

    private const long ParallelReadChunk = 8L << 20;

    private void ReadInto(Tensor tensor, TensorInfo info)
    {
        var target = tensor.bytes;
        long length = info.ByteLength, start = _dataStart + info.ByteOffset;
        if (target.Length != length)
            throw new InvalidOperationException($"tensor holds {target.Length} bytes, expected {length}");
        if (length < 2 * ParallelReadChunk)
        {
            ReadExactly(target, start);
            return;
        }
        // Large tensors: the copies out of the page cache spread over the cores.
        fixed (byte* destination = target)
        {
            var to = (nint)destination;
            long chunks = (length + ParallelReadChunk - 1) / ParallelReadChunk;
            Parallel.For(0, chunks, chunk =>
            {
                long offset = chunk * ParallelReadChunk, count = Math.Min(ParallelReadChunk, length - offset);
                ReadExactly(new Span<byte>((byte*)to + offset, (int)count), start + offset);
            });
        }
    }

    private void ReadExactly(Span<byte> target, long fileOffset)
    {
        while (target.Length > 0)
        {
            int read = RandomAccess.Read(_file!, target, fileOffset);
            if (read == 0)
                throw Truncated();
            target = target[read..];
            fileOffset += read;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _mappedBytes?.Dispose();
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _mapping?.Dispose();
        _file?.Dispose();
    }

    private static (Dictionary<string, TensorInfo>, IReadOnlyDictionary<string, string>, long, long) ReadHeader(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new SafetensorsException(path,
                $"the file is truncated ({fileLength} bytes); a safetensors file starts with an 8-byte header length.");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BitConverter.ToUInt64(lengthBytes);
        if (headerLength > (ulong)(fileLength - 8))
            throw new SafetensorsException(path,
                $"the header length ({headerLength} bytes) runs past the end of the file ({fileLength} bytes); the file is truncated or not safetensors.");
        if ((long)headerLength > MaxHeaderBytes)
            throw new SafetensorsException(path, $"the header is {headerLength} bytes long, more than any real weight file needs.");

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new SafetensorsException(path, $"the header is not valid JSON ({e.Message}).");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafetensorsException(path, "the header is not a JSON object.");
            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(path, property.Value, metadata);
                    continue;
                }
                tensors[property.Name] = ReadEntry(path, property.Name, property.Value, dataLength);
            }
            CheckNoOverlap(path, tensors.Values);
            return (tensors, metadata, dataStart, fileLength);
        }
    }

    private static void ReadMetadata(string path, JsonElement element, Dictionary<string, string> metadata)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new SafetensorsException(path, "__metadata__ is not a JSON object.");
        foreach (var entry in element.EnumerateObject())
            metadata[entry.Name] = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : entry.Value.GetRawText();
    }

    private static TensorInfo ReadEntry(string path, string name, JsonElement entry, long dataLength)
    {
        string Problem(string what) => $"tensor '{name}' {what}";
        if (entry.ValueKind != JsonValueKind.Object)
            throw new SafetensorsException(path, Problem("is not described by a JSON object."));

        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new SafetensorsException(path, Problem("has no dtype."));
        var dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDType.TryParse(dtypeName, out var dtype, out int elementSize))
            throw new SafetensorsException(path,
                Problem($"has the unknown dtype '{dtypeName}' (supported: {string.Join(", ", SafetensorsDType.Names)})."));

        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new SafetensorsException(path, Problem("has no shape."));
        var shape = new List<long>();
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw new SafetensorsException(path, Problem($"has an invalid shape {shapeElement.GetRawText()}."));
            shape.Add(size);
        }

        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw new SafetensorsException(path, Problem("has no valid data_offsets [begin, end]."));
        if (begin < 0 || end < begin || end > dataLength)
            throw new SafetensorsException(path,
                Problem($"has data_offsets [{begin}, {end}] outside the {dataLength} bytes of data; the file is truncated or corrupt."));

        long expected;
        try
        {
            expected = checked(shape.Aggregate(1L, (count, dim) => checked(count * dim)) * elementSize);
        }
        catch (OverflowException)
        {
            throw new SafetensorsException(path, Problem($"has a shape too large to exist: {shapeElement.GetRawText()}."));
        }
        if (expected != end - begin)
            throw new SafetensorsException(path,
                Problem($"has shape {shapeElement.GetRawText()} of {dtypeName} ({expected} bytes) but {end - begin} bytes of data."));

        return new TensorInfo(name, dtype, shape.ToArray(), begin, end - begin);
    }

    private static void CheckNoOverlap(string path, IEnumerable<TensorInfo> tensors)
    {
        TensorInfo? previous = null;
        foreach (var tensor in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.ByteOffset))
        {
            if (previous != null && tensor.ByteOffset < previous.ByteOffset + previous.ByteLength)
                throw new SafetensorsException(path,
                    $"the data of tensors '{previous.Name}' and '{tensor.Name}' overlap; the file is corrupt.");
            previous = tensor;
        }
    }
}
