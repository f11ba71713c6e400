"""What the GPU scripts that start `vllm serve` share (check_embeddings.py, structured_serve.py,
startup_serve.py), imported from their own folder."""
import signal, subprocess


def stop_server(proc):
    """Stops a server still running as Ctrl-C does (a drain), killing it after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
