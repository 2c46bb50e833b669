using System.CommandLine;
using FluxStudio.App;

var root = new RootCommand($"{AppInfo.Name} {AppInfo.Version}: a local, private FLUX.1 image studio.");
var version = new Command("version", "Print the version.");
version.SetAction(_ => Console.WriteLine($"{AppInfo.Name} {AppInfo.Version}"));
root.Subcommands.Add(version);
return await root.Parse(args).InvokeAsync();
