using System.CommandLine;
using FluxStudio.App.Enhancement;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Cli.Commands;

/// <summary><c>fluxstudio enhance "PROMPT" --model NAME [--image FILE]</c>: prints the enhanced prompt as it is written.</summary>
public static class EnhanceCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string?>("prompt")
        {
            Description = "The idea to enhance (with a vision model: optional wishes for the description).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var model = new Option<string?>("--model", "-m") { Description = "The model to use, as listed by --list-models." };
        var image = new Option<FileInfo?>("--image", "-i") { Description = "A PNG, JPEG or WebP image for a vision model to describe." };
        var endpoint = new Option<string?>("--endpoint")
        {
            Description = $"The server's address (default {EnhancerOptions.DefaultOllamaEndpoint} for Ollama; LM Studio: http://127.0.0.1:1234/v1).",
        };
        var provider = new Option<string?>("--provider")
        {
            Description = "The server's API: ollama, or openai for OpenAI-compatible servers (LM Studio, llama.cpp, vLLM). " +
                          "Default: Enhancer:Provider, ollama.",
        };
        provider.AcceptOnlyFromAmong("ollama", "openai");
        var listModels = new Option<bool>("--list-models") { Description = "List the server's models, marking those that see images, and exit." };

        var command = new Command("enhance", "Turn a short idea into a detailed FLUX prompt, or describe an image as one, with a local model.")
        {
            prompt, model, image, endpoint, provider, listModels,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var providerName = parseResult.GetValue(provider);
            var address = parseResult.GetValue(endpoint);
            if (providerName == "openai" && string.IsNullOrWhiteSpace(address))
                return Fail(ExitCodes.InvalidInput, "--provider openai needs --endpoint, e.g. http://127.0.0.1:1234/v1 for LM Studio.");

            using var host = CliHost.Build(new Dictionary<string, string?>
            {
                [$"{EnhancerOptions.SectionName}:{nameof(EnhancerOptions.Provider)}"] = providerName switch
                {
                    "openai" => nameof(EnhancerProvider.OpenAI),
                    "ollama" => nameof(EnhancerProvider.Ollama),
                    _ => null,
                },
                [$"{EnhancerOptions.SectionName}:{nameof(EnhancerOptions.Endpoint)}"] = string.IsNullOrWhiteSpace(address) ? null : address,
            });
            var enhancer = host.Services.GetRequiredService<PromptEnhancer>();

            return parseResult.GetValue(listModels)
                ? await ListAsync(enhancer, cancellationToken)
                : await EnhanceAsync(enhancer, parseResult.GetValue(model), parseResult.GetValue(prompt), parseResult.GetValue(image), cancellationToken);
        });
        return command;
    }

    private static async Task<int> ListAsync(PromptEnhancer enhancer, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var model in await enhancer.ListModelsAsync(refresh: true, cancellationToken))
                Console.WriteLine($"{model.Name}\t{(model.IsVision ? "vision" : "text")}");
            return 0;
        }
        catch (EnhancerException e)
        {
            return Fail(e);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Cancelled;
        }
    }

    private static async Task<int> EnhanceAsync(
        PromptEnhancer enhancer, string? model, string? prompt, FileInfo? imageFile, CancellationToken cancellationToken)
    {
        var wroteAny = false;
        try
        {
            if (string.IsNullOrWhiteSpace(model))
                return Fail(ExitCodes.InvalidInput, "Choose a model with --model NAME (see --list-models).");
            var image = imageFile is null ? null : await EnhanceImage.FromFileAsync(imageFile.FullName, cancellationToken);
            await foreach (var token in enhancer.EnhanceAsync(new EnhanceRequest(model, prompt, image), cancellationToken))
            {
                Console.Out.Write(token);
                wroteAny = true;
            }
            Console.Out.WriteLine();
            return 0;
        }
        catch (EnhancerException e)
        {
            if (wroteAny)
                Console.Out.WriteLine();
            return Fail(e);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (wroteAny)
                Console.Out.WriteLine();
            Console.Error.WriteLine("Cancelled.");
            return ExitCodes.Cancelled;
        }
    }

    private static int Fail(EnhancerException e) =>
        Fail(e.Kind == EnhancerErrorKind.InvalidRequest ? ExitCodes.InvalidInput : ExitCodes.Failure, e.Message);

    private static int Fail(int exitCode, string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return exitCode;
    }
}
