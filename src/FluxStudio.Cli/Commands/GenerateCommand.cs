using System.CommandLine;
using System.Globalization;
using FluxStudio.App;
using FluxStudio.App.Generation;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using GenerationProgress = FluxStudio.App.Generation.GenerationProgress;

namespace FluxStudio.Cli.Commands;

/// <summary>
/// `fluxstudio generate`: text to image on the command line, with mflux's flag names. It runs the studio's one
/// generation use case (<see cref="ImageGenerationService"/>), so the image is recorded in the history of the data
/// root, as the web's are, and written where <c>--output</c> says.
/// </summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Option<string?>("--prompt", "-p") { Description = "What the image shows; - reads it from standard input." };
        var promptFile = new Option<FileInfo>("--prompt-file") { Description = "Read the prompt from this text file." }.AcceptExistingOnly();
        var model = new Option<string?>("--model", "-m")
        {
            Description = "schnell or dev (default schnell; with --path, what the model folder is).",
        };
        var path = new Option<string?>("--path")
        {
            Description = "A model folder (diffusers layout), a Hub cache folder, or a single-file transformer. " +
                          "Default: the model in the Hugging Face cache (downloaded if missing).",
        };
        var quantize = new Option<int?>("--quantize", "-q") { Description = "4 or 8 bits." };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default 4 for schnell, 20 for dev)." };
        var seeds = new Option<ulong[]>("--seed")
        {
            Description = "Seed; repeat for one image per seed (the prompt is encoded once). 0 or none picks a random seed.",
            AllowMultipleArgumentsPerToken = true,
        };
        var autoSeeds = new Option<int?>("--auto-seeds") { Description = "Make N images, each with a random seed (instead of --seed)." };
        var guidance = new Option<double?>("--guidance") { Description = "Guidance scale for dev (default 3.5); schnell ignores it." };
        var width = new Option<int>("--width") { Description = "Width in pixels.", DefaultValueFactory = _ => GenerationRequest.DefaultSize };
        var height = new Option<int>("--height") { Description = "Height in pixels.", DefaultValueFactory = _ => GenerationRequest.DefaultSize };
        var output = new Option<FileInfo>("--output")
        {
            Description = "The PNG to write (history keeps its own copy in the data root's outputimage/).",
            DefaultValueFactory = _ => new FileInfo("image.png"),
        };
        var metadata = new Option<bool>("--metadata") { Description = "Also write the settings as JSON next to the image." };
        var noHistory = new Option<bool>("--no-history") { Description = "Only write --output; do not record the image in the studio's history." };
        var lowRam = new Option<bool?>("--low-ram") { Description = "Load the text encoders only to encode and the VAE only to decode (default on for the CPU)." };
        var loraPaths = new Option<string[]>("--lora-paths")
        {
            Description = "LoRA files (.safetensors): paths, or names in the LoRA folder (--lora-dir).",
            AllowMultipleArgumentsPerToken = true,
        };
        var loraScales = new Option<double[]>("--lora-scales")
        {
            Description = "One scale per LoRA (default 1.0 each).",
            AllowMultipleArgumentsPerToken = true,
        };
        var loraDir = new Option<DirectoryInfo?>("--lora-dir") { Description = "The LoRA library folder (default: lora/ in the data root)." };
        var dataRoot = new Option<DirectoryInfo?>("--data-root")
        {
            Description = "The studio's data folder, whose history records the image (default: FluxStudio:DataRoot).",
        };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda, cuda:N or mps (default: FluxStudio:Engine:Device, auto)." };
        var dtype = new Option<string?>("--dtype") { Description = "auto, fp32, bf16 or fp16 (default: FluxStudio:Engine:Precision, auto)." };
        var controlNetImage = new Option<FileInfo?>("--controlnet-image-path")
        {
            Description = "Guide the image by the Canny edges of this picture, through InstantX's FLUX.1 ControlNet.",
        };
        var controlNetStrength = new Option<double>("--controlnet-strength")
        {
            Description = "How strongly the edges guide the image, 0 to 1.", DefaultValueFactory = _ => GenerationRequest.DefaultControlNetStrength,
        };
        var controlNetSaveCanny = new Option<bool>("--controlnet-save-canny")
        {
            Description = "Also write the edge map the ControlNet was given, as <output stem>_controlnet_canny.png.",
        };
        var controlNetPath = new Option<DirectoryInfo?>("--controlnet-path")
        {
            Description = "A local ControlNet folder (default: FluxStudio:Engine:ControlNetPath, else InstantX/FLUX.1-dev-Controlnet-Canny " +
                          "from the Hugging Face cache, downloaded if missing).",
        };
        var controlNetEncoding = new Option<string>("--controlnet-encoding")
        {
            Description = "How the edge map is encoded for the ControlNet: mflux (the raw VAE mean, as the original app) or diffusers " +
                          "((mean − shift) · scale).",
            DefaultValueFactory = _ => ControlNetEncoding.Mflux.Name(),
        };
        var imagePath = new Option<FileInfo?>("--image-path") { Description = "Start from this picture instead of noise (image to image)." };
        var imageStrength = new Option<double>("--image-strength")
        {
            Description = "How much of --image-path to keep, 0 to 1: the first max(1, ⌊steps · strength⌋) steps are skipped.",
            DefaultValueFactory = _ => GenerationRequest.DefaultImageStrength,
        };

        var command = new Command("generate", "Generate images from a text prompt with FLUX.1.")
        {
            prompt, promptFile, model, path, quantize, steps, seeds, autoSeeds, guidance, width, height, output, metadata, noHistory, lowRam,
            loraPaths, loraScales, loraDir, dataRoot, device, dtype, controlNetImage, controlNetStrength, controlNetSaveCanny, controlNetPath,
            controlNetEncoding, imagePath, imageStrength,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var arguments = new Arguments(result.GetValue(prompt), result.GetValue(promptFile), result.GetValue(model), result.GetValue(path),
                result.GetValue(quantize), result.GetValue(steps), result.GetValue(seeds) ?? [], result.GetValue(guidance),
                result.GetValue(width), result.GetValue(height), result.GetValue(output)!, result.GetValue(metadata), result.GetValue(noHistory),
                result.GetValue(loraPaths) ?? [], result.GetValue(loraScales) ?? [], result.GetValue(autoSeeds),
                result.GetValue(controlNetImage), result.GetValue(controlNetStrength), result.GetValue(controlNetSaveCanny),
                result.GetValue(controlNetEncoding)!, result.GetValue(imagePath), result.GetValue(imageStrength));
            using var host = CliHost.Build(new Dictionary<string, string?>
            {
                [$"{StudioOptions.SectionName}:{nameof(StudioOptions.DataRoot)}"] = result.GetValue(dataRoot)?.FullName,
                [$"{StudioOptions.SectionName}:{nameof(StudioOptions.LoraFolder)}"] = result.GetValue(loraDir)?.FullName,
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Device)}"] = result.GetValue(device),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Precision)}"] = result.GetValue(dtype),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.LowMemory)}"] = CliHost.Setting(result.GetValue(lowRam)),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.ControlNetPath)}"] = result.GetValue(controlNetPath)?.FullName,
                // Nobody looks at step previews here.
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Previews)}"] = "false",
                // Local files are the user's own: LoRAs may be paths, and the model locator reports a missing model
                // (exit code 3) better than a file check would.
                [$"{ValidationSection}:{nameof(GenerationRequestValidatorOptions.AllowLoraPaths)}"] = "true",
                [$"{ValidationSection}:{nameof(GenerationRequestValidatorOptions.AllowEmptyPrompt)}"] = "true",
                [$"{ValidationSection}:{nameof(GenerationRequestValidatorOptions.CheckFiles)}"] = "false",
                // A batch here is not a queue job that keeps others waiting.
                [$"{ValidationSection}:{nameof(GenerationRequestValidatorOptions.MaxBatchCount)}"] = "10000",
            });
            return await RunAsync(arguments, host.Services, cancellationToken);
        });
        return command;
    }

    private const string ValidationSection = $"{StudioOptions.SectionName}:Validation";

    private sealed record Arguments(string? Prompt, FileInfo? PromptFile, string? Model, string? Path, int? Quantize, int? Steps,
        ulong[] Seeds, double? Guidance, int Width, int Height, FileInfo Output, bool Metadata, bool NoHistory,
        string[] LoraPaths, double[] LoraScales, int? AutoSeeds, FileInfo? ControlNetImage, double ControlNetStrength,
        bool ControlNetSaveCanny, string ControlNetEncoding, FileInfo? ImagePath, double ImageStrength);

    private static async Task<int> RunAsync(Arguments arguments, IServiceProvider services, CancellationToken cancellationToken)
    {
        try
        {
            return await GenerateAsync(arguments, services, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("Cancelled.");
            return ExitCodes.Cancelled;
        }
        catch (RequestValidationException e)
        {
            foreach (var message in e.Errors.Values)
                await Console.Error.WriteLineAsync($"error: {message}");
            return ExitCodes.InvalidInput;
        }
        catch (Exception e) when (EngineFailure.Describe(e) is { } failure)
        {
            return await EngineFailure.ReportAsync(failure);
        }
    }

    private static async Task<int> GenerateAsync(Arguments arguments, IServiceProvider services, CancellationToken cancellationToken)
    {
        var promptText = await ReadPromptAsync(arguments, cancellationToken);
        var modelPath = arguments.Path is null ? null : Path.GetFullPath(arguments.Path);
        FluxVariant fluxModel;
        if (arguments.Model is not null)
        {
            if (!FluxVariants.TryParse(arguments.Model, out fluxModel))
                throw new ArgumentException($"Unknown model '{arguments.Model}': use schnell or dev.");
        }
        else
        {
            // Without --model, a model folder is what its weights are.
            fluxModel = services.GetRequiredService<ModelProbe>().For(FluxVariant.Schnell, modelPath).Variant ?? FluxVariant.Schnell;
        }
        if (arguments.Seeds.Any(s => s > long.MaxValue))
            throw new ArgumentException($"Seeds must be at most {long.MaxValue}.");
        if (arguments.AutoSeeds is not null && arguments.Seeds.Length > 0)
            throw new ArgumentException("Give either --seed or --auto-seeds, not both.");
        if (arguments.AutoSeeds is < 1)
            throw new ArgumentException($"--auto-seeds must be 1 or more; got {arguments.AutoSeeds}.");
        if (!ControlNetEncodings.TryParse(arguments.ControlNetEncoding, out var encoding))
            throw new ArgumentException($"Unknown --controlnet-encoding '{arguments.ControlNetEncoding}': use mflux or diffusers.");

        var request = new GenerationRequest
        {
            Prompt = promptText,
            Model = fluxModel,
            Quantize = arguments.Quantize,
            Steps = arguments.Steps,
            Seed = arguments.Seeds.Length == 1 ? (long)arguments.Seeds[0] : 0,
            Seeds = arguments.Seeds.Length > 1 ? arguments.Seeds.Select(seed => (long)seed).ToList() : [],
            BatchCount = arguments.AutoSeeds ?? 1,
            Guidance = arguments.Guidance,
            Width = arguments.Width,
            Height = arguments.Height,
            ModelPath = modelPath,
            Metadata = arguments.Metadata,
            Loras = ResolveLoras(arguments, services.GetRequiredService<IOptions<StudioOptions>>().Value.ResolveLoraFolder()),
            ControlNetImagePath = arguments.ControlNetImage?.FullName,
            ControlNetStrength = arguments.ControlNetStrength,
            ControlNetSaveCanny = arguments.ControlNetSaveCanny,
            ControlNetEncoding = encoding,
            InitImagePath = arguments.ImagePath?.FullName,
            ImageStrength = arguments.ImageStrength,
        };
        var generation = services.GetRequiredService<ImageGenerationService>();
        var output = new GenerationOutput { History = !arguments.NoHistory, CopyTo = arguments.Output.FullName };
        using var progress = new ProgressLine();
        await foreach (var outcome in generation.GenerateAsync(request, output, progress, cancellationToken))
        {
            progress.Finish();
            foreach (var warning in outcome.Warnings)
                Console.Error.WriteLine($"warning: {warning}");
            var record = outcome.Record;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Wrote {outcome.CopyPath} (seed {record.Seed}, {record.Width}×{record.Height}, {record.ModelAlias}, {record.Steps} steps, " +
                $"{record.GenerationTimeSeconds:F1} s on {record.Device} {record.Precision})"));
            if (outcome.ControlNetCannyCopyPath is { } canny)
                Console.WriteLine($"Wrote the ControlNet's edge map to {canny}");
            if (outcome.InHistory)
                Console.WriteLine($"Recorded in history as image {record.Id} ({record.ImagePath})");
        }
        return ExitCodes.Success;
    }

    /// <summary>Each LoRA as a full path (as given, or found by name in the LoRA folder) with its scale.</summary>
    private static List<LoraSelection> ResolveLoras(Arguments arguments, string folder)
    {
        if (arguments.LoraScales.Length > arguments.LoraPaths.Length)
            throw new ArgumentException($"{arguments.LoraScales.Length} --lora-scales were given for {arguments.LoraPaths.Length} --lora-paths; give one scale per LoRA.");
        return arguments.LoraPaths.Select((name, i) =>
        {
            var candidates = new[] { name, Path.Combine(folder, name), Path.Combine(folder, name + ".safetensors") };
            var path = candidates.FirstOrDefault(File.Exists)
                ?? throw new ArgumentException($"LoRA '{name}' was not found as a file or in the LoRA folder {folder}.");
            double scale = i < arguments.LoraScales.Length ? arguments.LoraScales[i] : 1.0;
            if (!double.IsFinite(scale))
                throw new ArgumentException($"The scale of LoRA '{name}' must be a number.");
            return new LoraSelection(Path.GetFullPath(path), scale);
        }).ToList();
    }

    private static async Task<string> ReadPromptAsync(Arguments arguments, CancellationToken cancellationToken)
    {
        if (arguments.Prompt is not null && arguments.PromptFile is not null)
            throw new ArgumentException("Give either --prompt or --prompt-file, not both.");
        var text = arguments.Prompt == "-" ? await Console.In.ReadToEndAsync(cancellationToken)
            : arguments.PromptFile is { } file ? await File.ReadAllTextAsync(file.FullName, cancellationToken)
            : arguments.Prompt;
        if (text is null)
            throw new ArgumentException("Give a prompt with --prompt \"…\" (or --prompt - to read it from standard input, or --prompt-file FILE).");
        return text.Trim();
    }

    /// <summary>A one-line progress bar on standard error (a line per step when it is not a terminal).</summary>
    private sealed class ProgressLine : IProgress<GenerationProgress>, IDisposable
    {
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private bool _open;

        public void Report(GenerationProgress value)
        {
            string line = value.Stage switch
            {
                GenerationStage.LoadingModel when value.Download is { } d =>
                    $"Downloading {d.CurrentFile} ({d.FileNumber}/{d.FileCount}): {d.BytesDone >> 20} / {(d.BytesTotal ?? 0) >> 20} MiB",
                GenerationStage.LoadingModel => "Loading the model…",
                GenerationStage.EncodingPrompt => "Encoding the prompt…",
                GenerationStage.Denoising when value.Step > 0 =>
                    $"Denoising [{new string('#', Bar(value, 30))}{new string('.', 30 - Bar(value, 30))}] {value.Step}/{value.TotalSteps}" +
                    (value.Images > 1 ? $", image {value.Image} of {value.Images}" : ""),
                GenerationStage.Decoding => "Decoding the image…",
                _ => "",
            };
            if (line.Length == 0) return;
            if (_terminal)
            {
                Console.Error.Write($"\r{line,-60}");
                _open = true;
            }
            else
                Console.Error.WriteLine(line);
        }

        private static int Bar(GenerationProgress value, int width) => value.TotalSteps == 0 ? 0 : value.Step * width / value.TotalSteps;

        public void Finish()
        {
            if (_open) Console.Error.WriteLine();
            _open = false;
        }

        public void Dispose() => Finish();
    }
}
