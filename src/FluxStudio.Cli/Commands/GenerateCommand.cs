using System.CommandLine;
using System.Text.Json;
using FluxStudio.App;
using FluxStudio.App.Generation;
using FluxStudio.App.Outputs;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Vae;
using FluxStudio.Engine.Weights;
using Microsoft.Extensions.DependencyInjection;
using GenerationProgress = FluxStudio.Engine.Pipeline.GenerationProgress;

namespace FluxStudio.Cli.Commands;

/// <summary>`fluxstudio generate`: text to image on the command line, with mflux's flag names.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Option<string?>("--prompt", "-p") { Description = "What the image shows; - reads it from standard input." };
        var promptFile = new Option<FileInfo?>("--prompt-file") { Description = "Read the prompt from this text file." };
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
            Description = "Seed; repeat for one image per seed. 0 or none picks a random seed.",
            AllowMultipleArgumentsPerToken = true,
        };
        var guidance = new Option<double?>("--guidance") { Description = "Guidance scale for dev (default 3.5); schnell ignores it." };
        var width = new Option<int>("--width") { Description = "Width in pixels.", DefaultValueFactory = _ => GenerationRequest.DefaultSize };
        var height = new Option<int>("--height") { Description = "Height in pixels.", DefaultValueFactory = _ => GenerationRequest.DefaultSize };
        var output = new Option<FileInfo>("--output") { Description = "The PNG to write.", DefaultValueFactory = _ => new FileInfo("image.png") };
        var metadata = new Option<bool>("--metadata") { Description = "Also write the settings as JSON next to the image." };
        var lowRam = new Option<bool?>("--low-ram") { Description = "Free the text encoders after encoding (default on for the CPU)." };
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
        var loraDir = new Option<DirectoryInfo?>("--lora-dir") { Description = "The LoRA library folder (default: lora/ in the studio's data folder)." };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N or mps.", DefaultValueFactory = _ => "auto" };
        var dtype = new Option<string>("--dtype") { Description = "auto, fp32, bf16 or fp16.", DefaultValueFactory = _ => "auto" };

        var command = new Command("generate", "Generate images from a text prompt with FLUX.1.")
        {
            prompt, promptFile, model, path, quantize, steps, seeds, guidance, width, height, output, metadata, lowRam,
            loraPaths, loraScales, loraDir, device, dtype,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var arguments = new Arguments(result.GetValue(prompt), result.GetValue(promptFile), result.GetValue(model), result.GetValue(path),
                result.GetValue(quantize), result.GetValue(steps), result.GetValue(seeds) ?? [], result.GetValue(guidance),
                result.GetValue(width), result.GetValue(height), result.GetValue(output)!, result.GetValue(metadata), result.GetValue(lowRam),
                result.GetValue(loraPaths) ?? [], result.GetValue(loraScales) ?? [], result.GetValue(loraDir),
                result.GetValue(device)!, result.GetValue(dtype)!);
            return await RunAsync(arguments, cancellationToken);
        });
        return command;
    }

    private sealed record Arguments(string? Prompt, FileInfo? PromptFile, string? Model, string? Path, int? Quantize, int? Steps,
        ulong[] Seeds, double? Guidance, int Width, int Height, FileInfo Output, bool Metadata, bool? LowRam,
        string[] LoraPaths, double[] LoraScales, DirectoryInfo? LoraDir, string Device, string DType);

    private static async Task<int> RunAsync(Arguments arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await GenerateAsync(arguments, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("Cancelled.");
            return ExitCodes.Cancelled;
        }
        catch (ModelNotFoundException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.ModelNotFound;
        }
        catch (EngineMemoryException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Describe(CliMemoryRemedyWording.Instance)}");
            return ExitCodes.OutOfMemory;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or Engine.Lora.LoraFormatException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.InvalidInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or HttpRequestException
                                       or HubDownloadException or QuantizedModelException or WeightLoadException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
    }

    private static async Task<int> GenerateAsync(Arguments arguments, CancellationToken cancellationToken)
    {
        var promptText = await ReadPromptAsync(arguments, cancellationToken);
        var fluxModel = FluxModel.Schnell;
        if (arguments.Model is not null && !FluxModelNames.TryParse(arguments.Model, out fluxModel))
            throw new ArgumentException($"Unknown model '{arguments.Model}': use schnell or dev.");
        var seeds = arguments.Seeds.Length == 0 ? [0UL] : arguments.Seeds;
        if (seeds.Any(s => s > long.MaxValue))
            throw new ArgumentException($"Seeds must be at most {long.MaxValue}.");
        var target = ComputeTarget.Resolve(arguments.Device, arguments.DType);
        var loras = ResolveLoras(arguments);

        var request = new GenerationRequest
        {
            Prompt = promptText,
            Model = fluxModel,
            Quantize = arguments.Quantize,
            Steps = arguments.Steps,
            Guidance = arguments.Guidance,
            Width = arguments.Width,
            Height = arguments.Height,
            ModelPath = arguments.Path,
            Metadata = arguments.Metadata,
            Loras = loras.Select(l => new LoraSelection(l.Path, l.Scale)).ToList(),
        };

        await using var services = new ServiceCollection().AddFluxModels().BuildServiceProvider();
        var location = await services.GetRequiredService<ModelLocator>().LocateAsync(arguments.Path, fluxModel.ToAlias(), partsFolder: null,
            DownloadCommand.ProgressOnStandardError(), cancellationToken);

        var validator = new GenerationRequestValidator(new GenerationRequestValidatorOptions
        {
            SizeMultiple = 2 * VaeDownsampleFactor(location),
            CheckFiles = false,
            AllowEmptyPrompt = true,
        });
        foreach (var seed in seeds)
        {
            // LoRAs are files here, resolved above; the validator checks catalog names, which the web and API use.
            var validation = validator.Validate(request with { Seed = (long)seed, Loras = [] });
            if (!validation.IsValid)
                throw new ArgumentException(string.Join(Environment.NewLine, validation.Errors.Values));
        }

        var lowRam = arguments.LowRam ?? target.IsCpu;
        var planner = new MemoryPlanner(new SystemMemory(StudioEnvironment.MemoryLimitBytes));
        var plan = planner.Check(location, target, arguments.Quantize, new MemoryRequest(arguments.Width, arguments.Height, lowRam));
        Console.Error.WriteLine($"Loading {fluxModel.ToAlias()} from {location.Origin} on {target}…");
        using var loaded = await Task.Run(() =>
        {
            try
            {
                return LoadedFluxModel.Load(location, target, lowRam, arguments.Quantize);
            }
            catch (Exception e) when (EngineMemoryException.IsAllocationFailure(e))
            {
                throw plan.Failure("loading the model", e);
            }
        }, cancellationToken);
        loaded.UseLoras(loras);
        foreach (var lora in loaded.Loras.Where(l => l.UnmatchedKeys.Count > 0))
            Console.Error.WriteLine($"warning: {lora.UnmatchedKeys.Count} keys of {Path.GetFileName(lora.Path)} match no layer and were skipped: " +
                                    string.Join(", ", lora.UnmatchedKeys.Take(5)) + (lora.UnmatchedKeys.Count > 5 ? ", …" : ""));
        if (loaded.QuantizationBits is { } bits && bits != arguments.Quantize)
        {
            if (arguments.Quantize is not null)
                Console.Error.WriteLine($"warning: the model at {location.Origin} is stored {bits}-bit; -q {arguments.Quantize} was ignored.");
            request = request with { Quantize = bits };
        }
        var pipeline = new FluxPipeline(loaded, planner);
        // A model folder is what it is: dev-style when it embeds guidance, schnell-style otherwise.
        var actual = loaded.IsGuidanceDistilled ? FluxModel.Dev : FluxModel.Schnell;
        if (actual != fluxModel)
        {
            if (arguments.Model is not null)
                Console.Error.WriteLine($"warning: the model at {location.Origin} is {actual.ToAlias()}-style; using it as {actual.ToAlias()}.");
            fluxModel = actual;
            request = request with { Model = actual };
        }

        foreach (var seed in seeds)
        {
            using var bar = new ProgressLine();
            var result = await pipeline.GenerateAsync(new FluxGenerationOptions
            {
                Prompt = promptText,
                Seed = seed,
                Steps = arguments.Steps,
                Guidance = fluxModel == FluxModel.Dev && arguments.Guidance is { } g ? (float)g : null,
                Width = arguments.Width,
                Height = arguments.Height,
            }, bar, cancellationToken);
            bar.Finish();
            if (fluxModel == FluxModel.Schnell && arguments.Guidance is not null)
                Console.Error.WriteLine("warning: FLUX.1 schnell has no guidance input; --guidance was ignored.");

            var path = OutputPath(arguments.Output, seed, result.Seed, seeds.Length);
            var image = new GeneratedImage
            {
                Pixels = result.Image,
                Seed = (long)result.Seed,
                Prompt = promptText,
                Device = result.Device,
                Precision = result.Precision,
                GenerationTime = result.Duration,
            };
            var used = request with { Seed = (long)result.Seed };
            byte[] png;
            try
            {
                png = PngText.Insert(PngEncoder.Encode(result.Image), Infotext.ChunkKeyword,
                    Infotext.Format(used, image, result.Width, result.Height, loras.Select(l => l.Path).ToList()));
            }
            catch (OutOfMemoryException e)
            {
                throw new EngineMemoryException(MemoryShortfall.Unplanned(result.Width, result.Height, "saving the image", pipeline.SizeMultiple), e);
            }
            await AtomicFile.WriteAsync(path, png, overwrite: true, cancellationToken);
            if (arguments.Metadata)
                await AtomicFile.WriteAsync(Path.ChangeExtension(path, ".json"), Metadata(used, result), overwrite: true, cancellationToken);
            Console.WriteLine($"Wrote {path} (seed {result.Seed}, {result.Width}×{result.Height}, {result.Steps} steps, " +
                              $"{result.Duration.TotalSeconds:F1} s on {result.Device} {result.Precision})");
        }
        return ExitCodes.Success;
    }

    /// <summary>Each LoRA as a full path (as given, or found by name in the LoRA folder) with its scale.</summary>
    private static List<(string Path, double Scale)> ResolveLoras(Arguments arguments)
    {
        if (arguments.LoraScales.Length > arguments.LoraPaths.Length)
            throw new ArgumentException($"{arguments.LoraScales.Length} --lora-scales were given for {arguments.LoraPaths.Length} --lora-paths; give one scale per LoRA.");
        var folder = arguments.LoraDir?.FullName ?? new StudioOptions { DataRoot = StudioEnvironment.DataRoot }.ResolveLoraFolder();
        return arguments.LoraPaths.Select((name, i) =>
        {
            var candidates = new[] { name, Path.Combine(folder, name), Path.Combine(folder, name + ".safetensors") };
            var path = candidates.FirstOrDefault(File.Exists)
                ?? throw new ArgumentException($"LoRA '{name}' was not found as a file or in the LoRA folder {folder}.");
            double scale = i < arguments.LoraScales.Length ? arguments.LoraScales[i] : 1.0;
            if (!double.IsFinite(scale))
                throw new ArgumentException($"The scale of LoRA '{name}' must be a number.");
            return (Path.GetFullPath(path), scale);
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

    /// <summary>The VAE's factor, from its config when there is one (FLUX.1's 8 otherwise), to check sizes before loading.</summary>
    private static int VaeDownsampleFactor(ModelLocation location)
    {
        var config = Path.Combine(location.VaePath, "config.json");
        return File.Exists(config) ? AutoEncoderConfig.FromJsonFile(config).DownsampleFactor : AutoEncoderConfig.Flux1.DownsampleFactor;
    }

    private static string OutputPath(FileInfo output, ulong requested, ulong used, int count)
    {
        if (count == 1) return output.FullName;
        var name = $"{Path.GetFileNameWithoutExtension(output.Name)}_seed_{(requested == 0 ? used : requested)}{output.Extension}";
        return Path.Combine(output.DirectoryName ?? ".", name);
    }

    private static byte[] Metadata(GenerationRequest request, FluxGenerationResult result) =>
        JsonSerializer.SerializeToUtf8Bytes(new ImageMetadata
        {
            Model = request.Model.ToAlias(),
            Seed = (long)result.Seed,
            Steps = result.Steps,
            Guidance = result.Guidance,
            Precision = result.Precision,
            Quantize = request.Quantize,
            GenerationTimeSeconds = Math.Round(result.Duration.TotalSeconds, 3),
            LoraPaths = request.Loras.Select(l => l.Name).ToList(),
            LoraScales = request.Loras.Select(l => l.Scale).ToList(),
            Prompt = request.Prompt,
            Width = result.Width,
            Height = result.Height,
        }, ImageMetadata.SerializerOptions);

    /// <summary>A one-line progress bar on standard error (a line per step when it is not a terminal).</summary>
    private sealed class ProgressLine : IProgress<GenerationProgress>, IDisposable
    {
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private bool _open;

        public void Report(GenerationProgress value)
        {
            string line = value.Stage switch
            {
                GenerationStage.EncodingPrompt => "Encoding the prompt…",
                GenerationStage.Denoising => $"Denoising [{new string('#', Bar(value, 30))}{new string('.', 30 - Bar(value, 30))}] {value.Step}/{value.Steps}",
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

        private static int Bar(GenerationProgress value, int width) => value.Steps == 0 ? 0 : value.Step * width / value.Steps;

        public void Finish()
        {
            if (_open) Console.Error.WriteLine();
            _open = false;
        }

        public void Dispose() => Finish();
    }
}
