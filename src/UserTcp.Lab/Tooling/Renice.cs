namespace UserTcp.Lab;

/// <summary>
/// Gives the calling thread alone nice -20 (renice on its thread id: setpriority treats a thread id as a process), so
/// a lab thread whose timing is what it measures keeps its pace while curl, nc, the stack or a build keep the cores
/// busy. .NET ignores thread priorities on Linux; without renice (or as non-root) the thread stays at 0.
/// </summary>
internal static class Renice
{
    public static void CurrentThread()
    {
        string? self = new DirectoryInfo("/proc/thread-self").LinkTarget; // "PID/task/TID"
        string? renice = ExternalProgram.Find("renice");
        if (self is not null && renice is not null)
        {
            ExternalProgram.Run(renice, TimeSpan.FromSeconds(5), "-n", "-20", "-p", Path.GetFileName(self));
        }
    }
}
