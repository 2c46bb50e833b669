using System.CommandLine;
using FluxStudio.App.BackgroundRemoval;
using FluxStudio.App.Outputs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FluxStudio.Cli.Commands;

public static class RemoveBackgroundCommand
{
    public static Command Create()
    {
        var input = new Argument<FileInfo>("INPUT") { Description = "The image to cut out (PNG, JPEG, WebP, GIF, BMP)." };
        var output = new Argument<FileInfo>("OUTPUT") { Description = "Where to write the subject on a transparent background (.png)." };
        var model = new Option<string?>("--model")
        {
            Description = "The ONNX model file, or a folder holding onnx/model.onnx. Default: briaai/RMBG-2.0 in the Hugging Face cache.",
            HelpName = "FILE_OR_DIR",
        };
        var mask = new Option<FileInfo?>("--mask") { Description = "Also write the mask (grayscale .png) here.", HelpName = "MASK_OUTPUT" };
        var maxMegapixels = new Option<double?>("--max-megapixels")
        {
            Description = $"Refuse larger images (default: BackgroundRemoval:MaxMegapixels, {new BackgroundRemovalOptions().MaxMegapixels}).",
        };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for the model (0 = automatic)." };
        var force = new Option<bool>("--force") { Description = "Overwrite OUTPUT and MASK_OUTPUT if they exist." };
        var download = new Option<bool>("--download")
        {
            Description = "Without --model and with no model in the Hugging Face cache, download briaai/RMBG-2.0 (about 1 GB; " +
                          "accept its licence on its page and set HF_TOKEN first).",
        };

        var command = new Command("remove-bg", "Cut the subject of an image out onto a transparent background (RMBG-2.0).")
        {
            input, output, model, mask, maxMegapixels, threads, force, download,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var request = new Request(
                parseResult.GetRequiredValue(input), parseResult.GetRequiredValue(output), parseResult.GetValue(mask),
                parseResult.GetValue(force), parseResult.GetValue(maxMegapixels), parseResult.GetValue(threads));
            if (CheckRequest(request) is { } problem)
            {
                await Console.Error.WriteLineAsync($"error: {problem}");
                return ExitCodes.InvalidInput;
            }
            const string section = BackgroundRemovalOptions.SectionName;
            using var host = CliHost.Build(new Dictionary<string, string?>
            {
                [$"{section}:{nameof(BackgroundRemovalOptions.ModelPath)}"] = parseResult.GetValue(model),
                [$"{section}:{nameof(BackgroundRemovalOptions.MaxMegapixels)}"] = CliHost.Setting(request.MaxMegapixels),
                [$"{section}:{nameof(BackgroundRemovalOptions.Threads)}"] = CliHost.Setting(request.Threads),
                [$"{section}:{nameof(BackgroundRemovalOptions.AllowDownload)}"] = parseResult.GetValue(download) ? "true" : null,
            }, LogLevel.Information); // the remover's notes: which model, the download's progress, fallbacks
            try
            {
                return await RunAsync(request, host.Services.GetRequiredService<BackgroundRemover>(), cancellationToken);
            }
            catch (Exception exception) when (exception is BackgroundRemovalException or IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"error: {exception.Message}");
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    private sealed record Request(FileInfo Input, FileInfo Output, FileInfo? Mask, bool Force, double? MaxMegapixels, int? Threads);

    private static async Task<int> RunAsync(Request request, BackgroundRemover remover, CancellationToken cancellationToken)
    {
        BackgroundRemovalResult result;
        await using (var image = request.Input.OpenRead())
            result = await remover.RemoveAsync(image, new StageWriter(), cancellationToken);
        var model = await remover.GetModelInfoAsync(cancellationToken);

        await AtomicFile.WriteAsync(request.Output.FullName, result.Png, request.Force, cancellationToken);
        Console.WriteLine($"Wrote {request.Output.FullName} ({result.Width}×{result.Height}, model {model.Path} on {model.ExecutionProvider})");
        if (request.Mask is { } maskFile)
        {
            await AtomicFile.WriteAsync(maskFile.FullName, result.MaskPng, request.Force, cancellationToken);
            Console.WriteLine($"Wrote {maskFile.FullName}");
        }
        return 0;
    }

    private static string? CheckRequest(Request request)
    {
        if (!request.Input.Exists) return $"The input image {request.Input.FullName} does not exist.";
        if (request.MaxMegapixels <= 0) return "--max-megapixels must be greater than 0.";
        if (request.Threads < 0) return "--threads must be 0 (automatic) or more.";
        foreach (var (file, name) in new[] { (request.Output, "OUTPUT"), (request.Mask, "MASK_OUTPUT") })
        {
            if (file is null) continue;
            if (!file.Extension.Equals(".png", StringComparison.OrdinalIgnoreCase))
                return $"{name} must be a .png file ({file.Name}): only PNG keeps the transparency.";
            if (file.Exists && !request.Force)
                return $"{file.FullName} already exists. Choose another name, or pass --force to overwrite it.";
        }
        if (request.Mask is not null && request.Mask.FullName == request.Output.FullName)
            return "OUTPUT and MASK_OUTPUT must be different files.";
        return null;
    }

    /// <summary>Says on standard error what is happening, as loading the model can take a while the first time.</summary>
    private sealed class StageWriter : IProgress<BackgroundRemovalProgress>
    {
        public void Report(BackgroundRemovalProgress value)
        {
            var what = value.Stage switch
            {
                BackgroundRemovalStage.ReadingImage => "Reading the image",
                BackgroundRemovalStage.LoadingModel => "Loading the model",
                BackgroundRemovalStage.RunningModel => "Removing the background",
                _ => "Writing the result",
            };
            Console.Error.WriteLine($"[{value.Step}/{value.StepCount}] {what}…");
        }
    }
}
