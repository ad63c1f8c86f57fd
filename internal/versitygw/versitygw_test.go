package versitygw

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartServesBucket(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.Client()
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("head bucket %s: %v", s.Bucket, err)
	}
	other := s.NewBucket(t)
	if other == s.Bucket {
		t.Fatalf("NewBucket returned the existing bucket %s", other)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(other)}); err != nil {
		t.Fatalf("head bucket %s: %v", other, err)
	}
}
