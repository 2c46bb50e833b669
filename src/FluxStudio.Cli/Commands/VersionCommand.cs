using System.CommandLine;
using FluxStudio.App;

namespace FluxStudio.Cli.Commands;

public static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the version.");
        command.SetAction(_ => Console.WriteLine($"{AppInfo.Name} {AppInfo.Version}"));
        return command;
    }
}
