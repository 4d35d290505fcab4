using System.Globalization;

namespace UserTcp.Testing;

/// <summary>This process's threads as Linux shows them (/proc/self/task): found by name, and their nice values.</summary>
public static class ProcessThreads
{
    /// <summary>
    /// The /proc directories of this process's live threads named <paramref name="comm"/> (Linux keeps a thread name's
    /// first 15 characters).
    /// </summary>
    public static List<string> Named(string comm)
    {
        var tasks = new List<string>();
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == comm) tasks.Add(task);
            }
            catch (IOException)
            {
                // The thread ended between the listing and the read.
            }
        }
        return tasks;
    }

    /// <summary>A thread's (or, for /proc/self, the process's) nice value: field 19 of its stat, counted after the parenthesised name.</summary>
    public static int Nice(string task)
    {
        string stat = File.ReadAllText(Path.Combine(task, "stat"));
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[19 - 3], CultureInfo.InvariantCulture);
    }
}
