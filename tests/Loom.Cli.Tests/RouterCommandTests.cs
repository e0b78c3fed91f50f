using System.CommandLine;

namespace Loom.Cli.Tests;

public sealed class RouterCommandTests
{
    [Theory]
    [InlineData("--replica ftp://x", "--replica 'ftp://x' is not an http(s) URL.")]
    [InlineData("--replica http://127.0.0.1:1 --cache-threshold 3", "--cache-threshold must lie in [0, 1], got 3.")]
    [InlineData("--replica http://127.0.0.1:1 --replica http://127.0.0.1:1", "Each --replica must be given once.")]
    [InlineData("--replica http://127.0.0.1:1 --policy fastest", "--policy must be cache_aware, round_robin or random, got 'fastest'.")]
    [InlineData("--replica http://127.0.0.1:1 --health-check-interval 0", "--health-check-interval must be a positive number of seconds")]
    [InlineData("--port 1", "At least one --replica URL (or --service-discovery) is required.")]
    [InlineData("--service-discovery", "--service-discovery needs at least one --selector key=value.")]
    [InlineData("--service-discovery --selector app", "--selector 'app' is not a label key=value.")]
    [InlineData("--service-discovery --selector app=loom --replica http://127.0.0.1:1", "Give either --replica URLs or --service-discovery, not both.")]
    [InlineData("--service-discovery --selector app=loom --service-discovery-port 0", "--service-discovery-port must lie in [1, 65535], got 0.")]
    [InlineData("--replica http://127.0.0.1:1 --selector app=loom", "--selector applies only with --service-discovery.")]
    [InlineData("--pd-disaggregation --prefill http://127.0.0.1:1", "--pd-disaggregation needs at least one --decode URL.")]
    [InlineData("--pd-disaggregation --prefill http://127.0.0.1:1 --decode ftp://x", "--decode 'ftp://x' is not an http(s) URL.")]
    [InlineData("--pd-disaggregation --prefill http://127.0.0.1:1 --decode http://127.0.0.1:2 --replica http://127.0.0.1:3",
        "--replica and --service-discovery do not apply with --pd-disaggregation")]
    [InlineData("--pd-disaggregation --prefill http://127.0.0.1:1 --decode http://127.0.0.1:2 --service-discovery --selector app=loom",
        "--replica and --service-discovery do not apply with --pd-disaggregation")]
    [InlineData("--pd-disaggregation --prefill http://127.0.0.1:1 --decode http://127.0.0.1:2 --policy random",
        "--policy with --pd-disaggregation must be cache_aware or round_robin, got 'random'.")]
    [InlineData("--pd-disaggregation --prefill http://127.0.0.1:1 --decode http://127.0.0.1:2 --balance-rel-threshold 0.5",
        "--balance-rel-threshold must be a finite number >= 1, got 0.5.")]
    public void Bad_flags_are_one_line_naming_the_flag(string args, string message)
    {
        var error = new StringWriter();
        int exit = Program.BuildRoot().Parse(["router", .. args.Split(' ')]).Invoke(new InvocationConfiguration { Error = error, Output = TextWriter.Null });
        Assert.Equal(1, exit);
        Assert.Contains("error: " + message, error.ToString());
        Assert.DoesNotContain("(Parameter", error.ToString());
    }

    [Fact]
    public void Defaults_are_the_inference_extensions_weights_and_sglangs_thresholds()
    {
        var router = RouterCommand.Create();
        string Default(string name) => router.Parse(["--replica", "http://x"]).GetValue<object>(name)?.ToString() ?? "";
        Assert.Equal(("2", "2", "3"), (Default("--queue-weight"), Default("--kv-cache-weight"), Default("--prefix-weight")));
        Assert.Equal(("0.5", "32", "1.0001"), (Default("--cache-threshold"), Default("--balance-abs-threshold"), Default("--balance-rel-threshold")));
    }
}
