using FluxStudio.Web;

var app = FluxStudioServer.Build(args);
app.Run();

/// <summary>Entry point type, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
