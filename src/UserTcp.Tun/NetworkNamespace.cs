using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Tmds.Linux;
using UserTcp.Interop;

namespace UserTcp.Tun;

/// <summary>Runs code inside a named network namespace (one made with `ip netns add NAME`).</summary>
public static class NetworkNamespace
{
    /// <summary>Where `ip netns add` leaves a handle on each named namespace.</summary>
    public const string RunDirectory = "/var/run/netns";

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread that has joined the namespace, and returns
    /// its result. Only that thread changes namespace, and it ends with the action, so nothing
    /// else in the process is affected. A <see cref="TunDevice"/> opened in the action belongs
    /// to the namespace and works from any thread afterwards.
    /// </summary>
    /// <exception cref="TunException">The namespace cannot be entered; the message says why.</exception>
    public static T Invoke<T>(string name, Func<T> action)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(action);
        if (name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a namespace name", nameof(name));
        }

        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(name);
                result = action();
            }
            catch (Exception exception)
            {
                failure = ExceptionDispatchInfo.Capture(exception);
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    private static void Enter(string name)
    {
        string path = Path.Combine(RunDirectory, name);
        using SafeFileDescriptor handle = Syscalls.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (handle.IsInvalid)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new TunException(errno, errno == LibC.ENOENT
                ? $"network namespace {name} not found: create it with ip netns add {name}"
                : $"opening {path} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        if (Syscalls.Setns(handle, LibC.CLONE_NEWNET) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new TunException(errno, errno == LibC.EPERM
                ? $"entering network namespace {name}: missing CAP_SYS_ADMIN: run as root"
                : $"entering network namespace {name} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }
}
