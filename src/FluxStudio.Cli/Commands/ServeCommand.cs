using System.CommandLine;
using FluxStudio.Web;

namespace FluxStudio.Cli.Commands;

/// <summary><c>fluxstudio serve [--urls URL]</c>: the web studio and REST API, the same server as the web project's own start.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string?>("--urls")
        {
            Description = $"Where to listen, e.g. {FluxStudioServer.DefaultUrl} (the default). Anything but loopback needs " +
                          "FluxStudio:Web:AccessToken (environment variable FluxStudio__Web__AccessToken).",
        };
        var command = new Command("serve", "Start the studio's web UI and REST API.") { urls };
        // Further tokens are ASP.NET Core configuration, e.g. --FluxStudio:DataRoot=/data.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var args = new List<string>(parse.UnmatchedTokens);
            if (parse.GetValue(urls) is { Length: > 0 } url)
                args.AddRange(["--urls", url]);
            return await FluxStudioServer.RunAsync([.. args], ct) == 0 ? ExitCodes.Success : ExitCodes.Failure;
        });
        return command;
    }
}
