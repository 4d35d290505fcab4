using Microsoft.Win32.SafeHandles;

namespace UserTcp.Cli;

/// <summary>stdout as a stream that reports a closed pipe.</summary>
internal static class StandardOutput
{
    /// <summary>
    /// File descriptor 1 as an unbuffered stream whose writes throw IOException on EPIPE (the reader has gone, as
    /// `usertcp connect ... | head -1` does). Console.OpenStandardOutput's stream swallows EPIPE, so a command copying an
    /// endless stream to it never learns that nobody reads. The descriptor stays open when the stream is disposed.
    /// </summary>
    public static Stream Open() => new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
}
