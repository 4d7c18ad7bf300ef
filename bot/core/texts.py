"""What every channel tells a resident about a turn it could not finish (one copy)."""

# The message is kept and sent again when Rasa (or its action server) is back.
BUSY = "系统繁忙，请稍等。我们已记下您的消息，恢复后会第一时间答复您，不用重发。"
# Rasa kept answering nothing (the action server down for minutes): after the bounded
# retries the resident is asked to send it again.
NO_REPLY = "抱歉，这条消息暂时没有处理成功（系统部分服务不可用），请稍后再发一次。"
