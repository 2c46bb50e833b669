using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Cli.Commands;

/// <summary>
/// The exit code and one-line message of a failure that the commands running the engine (<c>generate</c>,
/// <c>train</c>) report in words a user can act on: a missing model, memory, bad input, files and downloads.
/// </summary>
public static class EngineFailure
{
    /// <summary>The failure's exit code and sentence, or null for anything else (a defect, left to surface).</summary>
    public static (int ExitCode, string Message)? Describe(Exception failure) => failure switch
    {
        ModelNotFoundException => (ExitCodes.ModelNotFound, failure.Message),
        EngineMemoryException memory => (ExitCodes.OutOfMemory, memory.Describe(CliMemoryRemedyWording.Instance)),
        ArgumentException or FormatException or NotSupportedException or LoraFormatException => (ExitCodes.InvalidInput, failure.Message),
        IOException or UnauthorizedAccessException or InvalidDataException or HttpRequestException
            or HubDownloadException or QuantizedModelException or WeightLoadException => (ExitCodes.Failure, failure.Message),
        _ => null,
    };

    /// <summary>Writes the failure's sentence to standard error and returns its exit code.</summary>
    public static async Task<int> ReportAsync((int ExitCode, string Message) described)
    {
        await Console.Error.WriteLineAsync($"error: {described.Message}");
        return described.ExitCode;
    }
}
