using System.Net;
using System.Net.Sockets;

namespace FluxStudio.Engine.Tests;

/// <summary>Loopback ports for tests that run their own servers or need an address where nothing listens.</summary>
public static class LoopbackPorts
{
    /// <summary>A port that was free a moment ago (another process may still take it before the caller binds it).</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>An http address on a free port, where connections are refused.</summary>
    public static Uri ClosedEndpoint() => new($"http://127.0.0.1:{Free()}");
}
