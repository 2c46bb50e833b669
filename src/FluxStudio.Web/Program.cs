using FluxStudio.Web;

return await FluxStudioServer.RunAsync(args);

/// <summary>Entry point type, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
