using System.Diagnostics;
using FluxStudio.Engine.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.BackgroundRemoval;

/// <summary>
/// Background removal with BRIA RMBG-2.0 (or a BiRefNet/ISNet export with the same contract) on ONNX Runtime.
/// The model is loaded on first use and kept; concurrent calls share it.
/// </summary>
public sealed class BackgroundRemover : IBackgroundRemover, IDisposable
{
    private readonly BackgroundRemovalOptions _options;
    private readonly ILogger<BackgroundRemover> _logger;
    private readonly SemaphoreSlim _loadLock = new(1, 1);
    private readonly SemaphoreSlim _runSlots;
    private volatile MattingModel? _model;
    private bool _disposed;

    private readonly HubSettings _hub;
    private readonly HubDownloader? _downloader;

    /// <param name="hub">The studio's Hugging Face settings; by default read from the environment as huggingface_hub does.</param>
    /// <param name="downloader">The studio's Hub client; without one, nothing is downloaded.</param>
    public BackgroundRemover(IOptions<BackgroundRemovalOptions> options, ILogger<BackgroundRemover> logger, HubSettings? hub = null,
        HubDownloader? downloader = null)
    {
        _options = options.Value;
        _logger = logger;
        _hub = hub ?? HubSettings.Resolve(new ModelHubOptions(), Environment.GetEnvironmentVariable);
        _downloader = downloader;
        _runSlots = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrentRuns));
    }

    public async Task<BackgroundRemovalResult> RemoveAsync(Stream image, IProgress<BackgroundRemovalProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        void Report(BackgroundRemovalStage stage) =>
            progress?.Report(new BackgroundRemovalProgress(stage, (int)stage + 1, Enum.GetValues<BackgroundRemovalStage>().Length));

        Report(BackgroundRemovalStage.ReadingImage);
        var encoded = await ReadLimitedAsync(image, _options.MaxInputBytes, cancellationToken);
        // The pixel work takes seconds of CPU: off the caller's thread, so a UI stays responsive.
        var decoded = await Task.Run(() => RgbaImage.Decode(encoded, _options.MaxMegapixels), cancellationToken);
        Report(BackgroundRemovalStage.LoadingModel);
        var model = await GetModelAsync(cancellationToken);

        Report(BackgroundRemovalStage.RunningModel);
        var started = Stopwatch.GetTimestamp();
        byte[] mask;
        // One run already uses every core and, for RMBG-2.0 at 1024², gigabytes of activations: runs queue here.
        await _runSlots.WaitAsync(cancellationToken);
        try
        {
            mask = await Task.Run(() =>
            {
                var input = MattingImageProcessing.ToModelInput(decoded, model.Info.InputWidth, model.Info.InputHeight);
                var output = model.Run(input, cancellationToken);
                var probabilities = MattingImageProcessing.ToProbabilities(output.Values, _options.MaskActivation);
                return MattingImageProcessing.ToMask(probabilities, output.Width, output.Height, decoded.Width, decoded.Height);
            }, cancellationToken);
        }
        finally
        {
            _runSlots.Release();
        }

        Report(BackgroundRemovalStage.Encoding);
        var result = await Task.Run(() => new BackgroundRemovalResult(
            MattingImageProcessing.EncodeCutoutPng(decoded, mask),
            MattingImageProcessing.EncodeMaskPng(mask, decoded.Width, decoded.Height),
            decoded.Width, decoded.Height), cancellationToken);
        _logger.LogDebug("Removed the background of a {Width}×{Height} image in {Elapsed:0.00} s",
            decoded.Width, decoded.Height, Stopwatch.GetElapsedTime(started).TotalSeconds);
        return result;
    }

    /// <summary>Loads the model if needed and tells what it expects; useful to fail early and to show in the UI.</summary>
    public async Task<MattingModelInfo> GetModelInfoAsync(CancellationToken cancellationToken) =>
        (await GetModelAsync(cancellationToken)).Info;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _model?.Dispose();
        _loadLock.Dispose();
        _runSlots.Dispose();
    }

    private async Task<MattingModel> GetModelAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_model is { } loaded) return loaded;
        await _loadLock.WaitAsync(cancellationToken);
        try
        {
            // A failed load is not remembered, so fixing the file and retrying works without a restart.
            if (_model is not null) return _model;
            var path = await LocateOrDownloadAsync(cancellationToken);
            return _model = await Task.Run(() => MattingModel.Load(path, _options, _logger), cancellationToken);
        }
        finally
        {
            _loadLock.Release();
        }
    }

    private async Task<string> LocateOrDownloadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return MattingModelLocator.Locate(_options.ModelPath, _options.ModelRepository, _options.Revision, _hub);
        }
        catch (BackgroundRemovalException exception) when (exception.Error == BackgroundRemovalError.ModelNotFound
                                                             && _options.AllowDownload && string.IsNullOrWhiteSpace(_options.ModelPath)
                                                             && _downloader is not null)
        {
            _logger.LogInformation("Downloading {File} of {Repository} from {Endpoint} into {HubCache}",
                _options.ModelFile, _options.ModelRepository, _hub.Endpoint, _hub.CacheDirectory);
            try
            {
                return await _downloader.DownloadFileAsync(FluxRepository.FromAlias(_options.ModelRepository), _options.Revision,
                    _options.ModelFile, new DownloadLog(_logger), cancellationToken);
            }
            catch (HubDownloadException failure)
            {
                throw new BackgroundRemovalException(BackgroundRemovalError.ModelNotFound,
                    $"The background-removal model could not be downloaded. {failure.Message} " +
                    $"You can also download {_options.ModelFile} by hand and pass its path with --model.", failure);
            }
        }
    }

    /// <summary>Logs every 100 MB, on the downloading thread (so in order).</summary>
    private sealed class DownloadLog(ILogger logger) : IProgress<DownloadProgress>
    {
        private long _nextReport;

        public void Report(DownloadProgress value)
        {
            if (value.BytesDone < _nextReport) return;
            logger.LogInformation("Downloaded {Megabytes:0} MB", value.BytesDone / 1e6);
            _nextReport = value.BytesDone + 100_000_000;
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(Stream stream, long maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                throw new BackgroundRemovalException(BackgroundRemovalError.ImageTooLarge,
                    $"The file is larger than {maxBytes / (1024.0 * 1024):0.#} MB. Use a smaller file, or raise BackgroundRemoval:MaxInputBytes.");
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            throw new BackgroundRemovalException(BackgroundRemovalError.InvalidImage, "The file is empty. Choose an image file.");
        return buffer.ToArray();
    }
}
