using System.CommandLine;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Cli.Commands;

/// <summary>`fluxstudio make-tiny-model DIR`: a few-megabyte random FLUX.1 model for trying everything end to end.</summary>
public static class MakeTinyModelCommand
{
    public static Command Create()
    {
        var directory = new Argument<DirectoryInfo>("DIR") { Description = "A new (or empty) folder for the model." };
        var variant = new Option<string>("--variant") { Description = "schnell or dev.", DefaultValueFactory = _ => "schnell" };
        variant.AcceptOnlyFromAmong("schnell", "dev");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 1 };
        var command = new Command("make-tiny-model",
            "Write a tiny FLUX.1 model with random weights in the diffusers layout, with the real tokenizers. " +
            "Its images are noise-like, but it runs every part of the studio in seconds. Sizes must be multiples of 4.")
        {
            directory, variant, seed,
        };
        command.SetAction(result =>
        {
            var folder = result.GetRequiredValue(directory).FullName;
            try
            {
                TinyModelWriter.Write(folder, dev: result.GetValue(variant) == "dev", seed: result.GetValue(seed));
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.Failure;
            }
            Console.WriteLine($"Wrote a tiny {result.GetValue(variant)} model to {folder}. Try:");
            Console.WriteLine($"  fluxstudio generate --path \"{folder}\" --prompt \"a lighthouse\" --width 64 --height 64 --steps 4");
            return 0;
        });
        return command;
    }
}
