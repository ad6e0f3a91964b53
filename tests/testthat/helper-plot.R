# What a base-graphics plot drew: runs `expr` on a null pdf device with the display
# list on, and counts the data points that plotXY calls put on the page (a line of
# one point draws nothing, so type "l" counts only with at least two finite points).
drawn_points <- function(expr) {
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  grDevices::dev.control("enable")
  force(expr)
  rec <- grDevices::recordPlot()[[1]]
  n <- 0
  for (e in rec) {
    args <- e[[2]]
    if (!identical(args[[1]]$name, "C_plotXY")) next
    xy <- args[[2]]
    type <- args[[3]]
    ok <- sum(is.finite(xy$x) & is.finite(xy$y))
    n <- n + if (type %in% c("p", "o", "b", "h") || ok >= 2 && type != "n") ok else 0
  }
  n
}
