using System.Text.RegularExpressions;

namespace UserTcp.Lab;

/// <summary>Whether a run bears out what a seed text claims.</summary>
public enum SeedAgreement
{
    /// <summary>No seed text makes a claim about this question.</summary>
    NoClaim,
    Agrees,
    /// <summary>Part of the claim holds, part does not; the explanation says which.</summary>
    Partly,
    Disagrees,
    /// <summary>The run could not put the question (its premise failed, e.g. an application ran too late); the explanation says why.</summary>
    Inconclusive,
}

/// <summary>One thing the scenario expects to see, and what it saw.</summary>
public sealed record Expectation(string What, bool Passed, string Observed);

/// <summary>
/// The answer a run gives: the question; what was observed, in one paragraph with the kernel's real retransmission
/// schedule; what the seed text claimed and whether the run agrees, and why; and the scenario's expectations.
/// </summary>
public sealed record LabVerdict(
    string Question,
    string Observed,
    SeedClaim? Seed,
    SeedAgreement Agreement,
    string AgreementWhy,
    IReadOnlyList<Expectation> Expectations)
{
    /// <summary>The kernel's retransmissions as the link saw them, one line per segment ("FIN: sent at 1.004 s, then +0.204, ...").</summary>
    public IReadOnlyList<string> KernelSchedule { get; init; } = [];

    /// <summary>UserTcp's retransmissions, one line per segment, for comparison.</summary>
    public IReadOnlyList<string> UserTcpSchedule { get; init; } = [];

    public bool Passed => Expectations.Count > 0 && Expectations.All(e => e.Passed);
}

/// <summary>Collects a scenario's expectations as it reads a record.</summary>
public sealed partial class VerdictBuilder
{
    private readonly List<Expectation> _expectations = [];

    /// <summary>Adds one expectation; returns whether it held.</summary>
    public bool Expect(string what, bool passed, string observed)
    {
        _expectations.Add(new Expectation(what, passed, observed));
        return passed;
    }

    public IReadOnlyList<Expectation> Expectations => _expectations;

    public LabVerdict Build(LabScenario scenario, LabRecord record, string observed, SeedAgreement agreement, string why,
        IReadOnlyList<string>? kernelSchedule = null, IReadOnlyList<string>? userTcpSchedule = null)
    {
        if (record.Failure is string failure) _expectations.Insert(0, new Expectation("the run completes within its bound", false, failure));
        return new LabVerdict(scenario.Question, SentenceCase(observed), scenario.Seed, scenario.Seed is null ? SeedAgreement.NoClaim : agreement, SentenceCase(why), [.. _expectations])
        {
            KernelSchedule = kernelSchedule ?? [],
            UserTcpSchedule = userTcpSchedule ?? [],
        };
    }

    /// <summary>
    /// Capitalizes the words the scenarios' texts begin sentences with in lower case: a side's name ("the kernel closed
    /// first …"), put in where "UserTcp" stands in the other role, and fast-open's "connection 2: …".
    /// </summary>
    public static string SentenceCase(string text) =>
        SentenceStart().Replace(text, m => char.ToUpperInvariant(m.Value[0]) + m.Value[1..]);

    [GeneratedRegex(@"(?<=^|[.!?] |[.!?]\) |\] )(?:the|connection)\b")]
    private static partial Regex SentenceStart();
}
