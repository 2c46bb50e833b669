using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace FluxStudio.App.BackgroundRemoval;

/// <summary>What the loaded model expects and where it runs.</summary>
public sealed record MattingModelInfo(string Path, string InputName, int InputWidth, int InputHeight, string OutputName, string ExecutionProvider);

/// <summary>The model's mask at its own resolution, before any activation.</summary>
internal sealed record MattingOutput(float[] Values, int Width, int Height);

/// <summary>
/// An ONNX matting model with RMBG-2.0's contract: one image input [1, 3, H, W] (float or float16), and a mask as its
/// last output ([1, 1, h, w] or any shape ending in h, w). BiRefNet and ISNet exports share it with other sizes.
/// </summary>
internal sealed class MattingModel : IDisposable
{
    /// <summary>RMBG-2.0's size, used where the graph leaves height or width dynamic.</summary>
    public const int DefaultInputSize = 1024;

    private readonly InferenceSession _session;
    private readonly bool _halfPrecisionInput;

    private MattingModel(InferenceSession session, MattingModelInfo info, bool halfPrecisionInput)
    {
        _session = session;
        Info = info;
        _halfPrecisionInput = halfPrecisionInput;
    }

    public MattingModelInfo Info { get; }

    public static MattingModel Load(string path, BackgroundRemovalOptions options, ILogger logger)
    {
        var started = Stopwatch.GetTimestamp();
        var (session, provider) = CreateSession(path, options, logger);
        try
        {
            var model = Describe(session, path, provider, options.OutputName);
            logger.LogInformation("Loaded matting model {Path} ({Width}×{Height}, input {Input}, output {Output}) on {Provider} in {Elapsed:0.0} s",
                path, model.Info.InputWidth, model.Info.InputHeight, model.Info.InputName, model.Info.OutputName, provider,
                Stopwatch.GetElapsedTime(started).TotalSeconds);
            return model;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    public MattingOutput Run(float[] input, CancellationToken cancellationToken)
    {
        var shape = new long[] { 1, 3, Info.InputHeight, Info.InputWidth };
        using var inputValue = _halfPrecisionInput
            ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(input, value => (Float16)value), shape)
            : OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var cancellation = cancellationToken.Register(() => runOptions.Terminate = true);
        IDisposableReadOnlyCollection<OrtValue> outputs;
        try
        {
            outputs = _session.Run(runOptions, [Info.InputName], [inputValue], [Info.OutputName]);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (OnnxRuntimeException exception)
        {
            throw new BackgroundRemovalException(BackgroundRemovalError.InferenceFailed,
                $"The model {Info.Path} failed to run ({FirstLine(exception.Message)}). Check that it is a matting model " +
                "with one [1, 3, H, W] image input.", exception);
        }
        using (outputs)
        {
            var output = outputs[0];
            var typeAndShape = output.GetTensorTypeAndShape();
            var dimensions = typeAndShape.Shape;
            if (dimensions.Length < 2 || dimensions[..^2].Any(dimension => dimension != 1))
                throw new BackgroundRemovalException(BackgroundRemovalError.InvalidModel,
                    $"The model's output {Info.OutputName} has shape [{string.Join(", ", dimensions)}]; a single mask [1, 1, h, w] was expected.");
            var values = typeAndShape.ElementDataType switch
            {
                TensorElementType.Float => output.GetTensorDataAsSpan<float>().ToArray(),
                TensorElementType.Float16 => Array.ConvertAll(output.GetTensorDataAsSpan<Float16>().ToArray(), value => (float)value),
                var other => throw new BackgroundRemovalException(BackgroundRemovalError.InvalidModel,
                    $"The model's output {Info.OutputName} holds {other} values; a float mask was expected."),
            };
            return new MattingOutput(values, Width: (int)dimensions[^1], Height: (int)dimensions[^2]);
        }
    }

    public void Dispose() => _session.Dispose();

    private static MattingModel Describe(InferenceSession session, string path, string provider, string? outputName)
    {
        if (!string.IsNullOrWhiteSpace(outputName) && !session.OutputNames.Contains(outputName))
            throw new BackgroundRemovalException(BackgroundRemovalError.InvalidModel,
                $"{path} has no output named {outputName}; its outputs are {string.Join(", ", session.OutputNames)}. " +
                "Fix BackgroundRemoval:OutputName, or leave it empty to use the last output.");
        if (session.InputMetadata.Count != 1)
            throw new BackgroundRemovalException(BackgroundRemovalError.InvalidModel,
                $"{path} has {session.InputMetadata.Count} inputs ({string.Join(", ", session.InputMetadata.Keys)}); " +
                "a matting model has one image input [1, 3, H, W].");
        var (inputName, input) = session.InputMetadata.Single();
        var dimensions = input.IsTensor ? input.Dimensions : [];
        var halfPrecision = input.IsTensor && input.ElementDataType == TensorElementType.Float16;
        if (dimensions.Length != 4 || dimensions[1] is not (3 or -1) || dimensions[0] is not (1 or -1)
            || !(halfPrecision || input.ElementDataType == TensorElementType.Float))
            throw new BackgroundRemovalException(BackgroundRemovalError.InvalidModel,
                $"{path}'s input {inputName} is [{string.Join(", ", dimensions)}] of {(input.IsTensor ? input.ElementDataType : input.OnnxValueType)}; " +
                "a matting model takes float [1, 3, H, W] RGB.");
        var height = dimensions[2] > 0 ? dimensions[2] : DefaultInputSize;
        var width = dimensions[3] > 0 ? dimensions[3] : DefaultInputSize;
        var output = string.IsNullOrWhiteSpace(outputName) ? session.OutputNames[^1] : outputName;
        var info = new MattingModelInfo(path, inputName, width, height, output, provider);
        return new MattingModel(session, info, halfPrecision);
    }

    private static (InferenceSession Session, string Provider) CreateSession(string path, BackgroundRemovalOptions options, ILogger logger)
    {
        using var sessionOptions = NewSessionOptions(options);
        var provider = ChooseExecutionProvider(sessionOptions, options.ExecutionProvider, logger);
        try
        {
            return (new InferenceSession(path, sessionOptions), provider);
        }
        catch (OnnxRuntimeException exception) when (provider != "CPU" && options.ExecutionProvider == ExecutionProviderPreference.Auto)
        {
            // An accelerator that cannot take this graph must not stop a model the CPU runs fine.
            logger.LogWarning("{Provider} could not take the model ({Reason}); background removal runs on the CPU", provider, FirstLine(exception.Message));
            using var cpuOnly = NewSessionOptions(options);
            return (OpenOnCpu(path, cpuOnly), "CPU");
        }
        catch (OnnxRuntimeException exception)
        {
            throw InvalidModelFile(path, exception);
        }
    }

    private static InferenceSession OpenOnCpu(string path, SessionOptions sessionOptions)
    {
        try
        {
            return new InferenceSession(path, sessionOptions);
        }
        catch (OnnxRuntimeException exception)
        {
            throw InvalidModelFile(path, exception);
        }
    }

    private static BackgroundRemovalException InvalidModelFile(string path, OnnxRuntimeException exception) =>
        new(BackgroundRemovalError.InvalidModel,
            $"{path} could not be loaded as an ONNX model ({FirstLine(exception.Message)}). " +
            "The file may be incomplete or damaged: download it again.", exception);

    private static SessionOptions NewSessionOptions(BackgroundRemovalOptions options) => new()
    {
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        IntraOpNumThreads = options.Threads,
    };

    private static string ChooseExecutionProvider(SessionOptions sessionOptions, ExecutionProviderPreference preference, ILogger logger)
    {
        var available = OrtEnv.Instance().GetAvailableProviders();
        var hasCuda = available.Contains("CUDAExecutionProvider");
        var hasCoreMl = available.Contains("CoreMLExecutionProvider");
        switch (preference)
        {
            case ExecutionProviderPreference.Cuda when !hasCuda:
            case ExecutionProviderPreference.CoreML when !hasCoreMl:
                throw new BackgroundRemovalException(BackgroundRemovalError.ExecutionProviderUnavailable,
                    $"The {preference} execution provider is not in this ONNX Runtime build (it has {string.Join(", ", available)}). " +
                    "Choose Auto or Cpu, or install the ONNX Runtime package built with it.");
            case ExecutionProviderPreference.Cuda:
            case ExecutionProviderPreference.Auto when hasCuda:
                try
                {
                    sessionOptions.AppendExecutionProvider_CUDA(0);
                    return "CUDA";
                }
                catch (OnnxRuntimeException exception) when (preference == ExecutionProviderPreference.Auto)
                {
                    // The provider is compiled in but CUDA itself (driver, cuDNN) is missing: CPU still works.
                    logger.LogWarning("CUDA is not usable ({Reason}); background removal runs on the CPU", FirstLine(exception.Message));
                    return "CPU";
                }
                catch (OnnxRuntimeException exception)
                {
                    throw new BackgroundRemovalException(BackgroundRemovalError.ExecutionProviderUnavailable,
                        $"CUDA could not be started ({FirstLine(exception.Message)}). Check the NVIDIA driver and cuDNN, or choose Auto or Cpu.",
                        exception);
                }
            case ExecutionProviderPreference.CoreML:
            case ExecutionProviderPreference.Auto when hasCoreMl:
                sessionOptions.AppendExecutionProvider_CoreML();
                return "CoreML";
            default:
                return "CPU";
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
