using TorchSharp;

namespace FluxStudio.Engine.Layers;

/// <summary>
/// The small integers operations take most often (a sum's alpha of 1, an exponent of 2), as Scalars that live as long
/// as the process. A Scalar made for one call can be freed by its finalizer while libtorch still reads it (README,
/// "Numbers handed to libtorch"); the project's analyzer rejects those, and these are what to pass instead.
/// </summary>
public static class Scalars
{
    public static readonly Scalar Zero = 0, One = 1, Two = 2;
}
