module github.com/imhook/imhook/sdk

go 1.26.0
