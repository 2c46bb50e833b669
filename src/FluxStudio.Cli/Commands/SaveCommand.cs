using System.CommandLine;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Quantization;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Cli.Commands;

/// <summary>`fluxstudio save`: write a 4- or 8-bit quantized copy of a model folder (mflux-save's shape).</summary>
public static class SaveCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "schnell or dev.", DefaultValueFactory = _ => "schnell" };
        model.AcceptOnlyFromAmong("schnell", "dev");
        var from = new Option<string?>("--from") { Description = "The full-precision model folder (default: the model in the Hugging Face cache)." };
        var quantize = new Option<int>("--quantize", "-q") { Description = "4 or 8 bits.", Required = true };
        quantize.AcceptOnlyFromAmong("4", "8");
        var path = new Option<DirectoryInfo>("--path") { Description = "The new folder to write.", Required = true };
        var command = new Command("save",
            "Write a quantized copy of FLUX.1 (transformer and T5 in 4 or 8 bits, groups of 64; the rest copied). " +
            "Load it with `generate --path OUT_DIR`; the bit width is read from the files.")
        {
            model, from, quantize, path,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var output = result.GetRequiredValue(path).FullName;
            int bits = result.GetValue(quantize);
            try
            {
                using var host = CliHost.Build([]);
                var location = host.Services.GetRequiredService<ModelLocator>().Locate(result.GetValue(from), result.GetValue(model)!);
                var source = Path.GetDirectoryName(location.TransformerPath)!;
                Console.Error.WriteLine($"Quantizing {location.Origin} to {bits} bits…");
                await ComputeThreads.Run(() => QuantizedModelWriter.Save(source, output, bits,
                    progress: new Progress<string>(stage => Console.Error.WriteLine(stage)), cancellationToken: cancellationToken), cancellationToken);
                Console.WriteLine($"Wrote the {bits}-bit model to {output}");
                return 0;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("Cancelled; nothing was written.");
                return ExitCodes.Cancelled;
            }
            catch (Exception e) when (e is ModelNotFoundException or IOException or InvalidDataException or ArgumentException or InvalidOperationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return e is ModelNotFoundException ? ExitCodes.ModelNotFound : ExitCodes.Failure;
            }
        });
        return command;
    }
}
