namespace UserTcp.Interop;

internal static partial class Libc
{
    /// <summary>The C library; the runtime maps the name "libc" to the platform's libc.so.6.</summary>
    internal const string LibraryName = "libc";
}
