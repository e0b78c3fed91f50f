using Loom.Router.Signals;

namespace Loom.Router.Tests.Routing;

public sealed class ReplicaSignalsTests
{
    [Fact]
    public void Loom_and_vllm_gauges_are_read()
    {
        var loom = ReplicaSignals.Parse("""
            # HELP loom_num_requests_waiting Requests waiting to be scheduled.
            # TYPE loom_num_requests_waiting gauge
            loom_num_requests_waiting 3
            loom_num_requests_running 2
            loom_kv_cache_usage_perc 0.25
            loom_cache_config_info{block_size="16",num_gpu_blocks="512"} 1
            loom_prompt_tokens_total 100
            """);
        Assert.Equal(new ReplicaSignals(3, 2, 0.25, 16, 512), loom);
        var vllm = ReplicaSignals.Parse("""
            vllm:num_requests_waiting{model_name="m"} 7.0
            vllm:num_requests_running{model_name="m"} 1.0
            vllm:gpu_cache_usage_perc{model_name="m"} 0.5
            vllm:cache_config_info{block_size="32",cache_dtype="auto",num_gpu_blocks="1000"} 1.0
            """);
        Assert.Equal(new ReplicaSignals(7, 1, 0.5, 32, 1000), vllm);
    }

    [Fact]
    public void The_kv_events_port_is_read_and_zero_means_none()
    {
        Assert.Equal(8302, ReplicaSignals.Parse("loom_kv_events_port 8302\n").KvEventsPort);
        Assert.Null(ReplicaSignals.Parse("loom_kv_events_port 0\n").KvEventsPort);
        Assert.Null(ReplicaSignals.Parse("loom_num_requests_waiting 1\n").KvEventsPort);
    }

    [Fact]
    public void Garbage_reads_as_unknown_not_as_an_error()
    {
        Assert.Equal(new ReplicaSignals(0, 0, 0, null, null), ReplicaSignals.Parse("loom_num_requests_waiting NaN\nnot a metric\n{}"));
    }
}
