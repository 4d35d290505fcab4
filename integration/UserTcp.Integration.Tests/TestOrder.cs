using Xunit.Abstractions;

// The namespace tests run one at a time: they measure kernel behaviour on a 2-core VM, where parallel runs
// only add timing noise. The final check (nothing left behind) runs after every other test.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: TestCollectionOrderer("UserTcp.Integration.Tests.FinalCheckLast", "UserTcp.Integration.Tests")]

namespace UserTcp.Integration.Tests;

/// <summary>Orders the test collections by name, with <see cref="FinalCheckTests"/>' collection last.</summary>
public sealed class FinalCheckLast : ITestCollectionOrderer
{
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections
            .OrderBy(c => c.DisplayName == FinalCheckTests.Collection ? 1 : 0)
            .ThenBy(c => c.DisplayName, StringComparer.Ordinal);
}
