using System.CommandLine;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Cli.Commands;

/// <summary>`fluxstudio make-random-model DIR`: a FLUX.1-sized model of random weights, to measure speed and memory at real size.</summary>
public static class MakeRandomModelCommand
{
    public static Command Create()
    {
        var directory = new Argument<DirectoryInfo>("DIR") { Description = "A new (or empty) folder for the model." };
        var model = new Option<string>("--model", "-m") { Description = "schnell or dev.", DefaultValueFactory = _ => "schnell" };
        model.AcceptOnlyFromAmong("schnell", "dev");
        var quantize = new Option<int?>("--quantize", "-q") { Description = "4 or 8: write the transformer and T5 quantized (as `save` does)." };
        quantize.AcceptOnlyFromAmong("4", "8");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 1 };
        var defaults = new RandomModelOptions();
        var doubleBlocks = new Option<int>("--double-blocks") { Description = "Double-stream blocks (FLUX.1: 19).", DefaultValueFactory = _ => defaults.DoubleBlocks };
        var singleBlocks = new Option<int>("--single-blocks") { Description = "Single-stream blocks (FLUX.1: 38).", DefaultValueFactory = _ => defaults.SingleBlocks };
        var encoderLayers = new Option<int?>("--encoder-layers") { Description = "Layers of each text encoder (FLUX.1: 24 in T5, 12 in CLIP)." };
        var command = new Command("make-random-model",
            "Write a FLUX.1-sized model with random weights in the diffusers layout (about 34 GB in bf16, 17 GB with -q 8, " +
            "10 GB with -q 4), to measure speed and memory at real size. Its images are noise. Fewer blocks keep the widths.")
        {
            directory, model, quantize, seed, doubleBlocks, singleBlocks, encoderLayers,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var folder = result.GetRequiredValue(directory).FullName;
            var options = new RandomModelOptions
            {
                Dev = result.GetValue(model) == "dev",
                QuantizeBits = result.GetValue(quantize),
                Seed = result.GetValue(seed),
                DoubleBlocks = result.GetValue(doubleBlocks),
                SingleBlocks = result.GetValue(singleBlocks),
                EncoderLayers = result.GetValue(encoderLayers),
            };
            try
            {
                long bytes = await ComputeThreads.Run(() => RandomModelWriter.Write(folder, options,
                    new Progress<string>(stage => Console.Error.WriteLine(stage)), cancellationToken), cancellationToken);
                Console.WriteLine($"Wrote a random {result.GetValue(model)} model ({bytes / 1e9:F1} GB of weights) to {folder}. Try:");
                Console.WriteLine($"  fluxstudio generate --path \"{folder}\" --prompt \"a lighthouse\" --width 256 --height 256 --seed 1");
                return ExitCodes.Success;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("Cancelled; nothing was written.");
                return ExitCodes.Cancelled;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return e is ArgumentException ? ExitCodes.InvalidInput : ExitCodes.Failure;
            }
        });
        return command;
    }
}
