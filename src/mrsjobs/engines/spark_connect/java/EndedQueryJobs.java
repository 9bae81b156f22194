package mrsjobs.spark;

import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Properties;
import java.util.Set;

import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd;

/**
 * Cancels a Spark job that starts after the SQL query it belongs to has ended.
 *
 * <p>A query interrupted while it is still being planned ends at once, yet adaptive
 * execution may submit one of its shuffle stages a moment later, from another thread:
 * Spark's cancellation by tag has already run and misses it, and the orphaned stage
 * keeps the engine's cores for as long as the query would have run. The listener bus
 * delivers a query's end before such a job's start, so the job is known to be orphaned
 * when it starts.
 */
public final class EndedQueryJobs extends SparkListener {
    /** Ended queries remembered; an orphaned job starts within moments of its query's end. */
    private static final int REMEMBERED = 4096;
    private static final String EXECUTION_ID = "spark.sql.execution.id";

    private final Set<Long> ended = new HashSet<>();
    private final ArrayDeque<Long> order = new ArrayDeque<>();

    @Override
    public synchronized void onOtherEvent(SparkListenerEvent event) {
        if (event instanceof SparkListenerSQLExecutionEnd end && ended.add(end.executionId())) {
            order.addLast(end.executionId());
            if (order.size() > REMEMBERED) {
                ended.remove(order.removeFirst());
            }
        }
    }

    @Override
    public void onJobStart(SparkListenerJobStart job) {
        Properties properties = job.properties();
        String execution = properties == null ? null : properties.getProperty(EXECUTION_ID);
        if (execution != null && hasEnded(Long.parseLong(execution))) {
            SparkContext.getOrCreate().cancelJob(
                job.jobId(), "its SQL query " + execution + " had already ended");
        }
    }

    private synchronized boolean hasEnded(long execution) {
        return ended.contains(execution);
    }
}
